import type { PaymentRepository } from "../payments/repository.ts";

/** An open database behind the repository port, as the composition root holds it. */
export interface Storage {
  /** Which adapter serves it (for logs and readiness). */
  kind: "sqlite" | "postgres";
  repository: PaymentRepository;
  /** True when the database answers a trivial query now. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
