export type PaymentStatus = "pending" | "paid" | "expired";

/** A payment as the service sees it: integer cents, epoch-millisecond times, effective status. */
export interface Payment {
  id: number;
  bankPaymentId: string;
  amountCents: number;
  status: PaymentStatus;
  brCode: string;
  createdAt: number;
  expiresAt: number;
  paidAt: number | null;
}

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;
