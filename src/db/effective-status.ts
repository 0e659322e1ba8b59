import { and, eq, gt, lte, or, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { PaymentStatus } from "../payments/model.ts";

/** The columns the rule reads, from either dialect's payments table. */
interface StatusColumns {
  status: SQLWrapper;
  expiresAt: SQLWrapper;
}

/**
 * The SQL form of the domain's rule (src/payments/model.ts `effectiveStatus`): a pending payment past its
 * expiry is expired. Written once with Drizzle's dialect-neutral operators for every storage adapter.
 */
export function hasEffectiveStatus(t: StatusColumns, status: PaymentStatus, now: SQLWrapper | number): SQL {
  switch (status) {
    case "paid":
      return eq(t.status, "paid");
    case "pending":
      return and(eq(t.status, "pending"), gt(t.expiresAt, now))!;
    case "expired":
      return or(eq(t.status, "expired"), and(eq(t.status, "pending"), lte(t.expiresAt, now)))!;
  }
}

/** The effective status as a column, for counting by it. */
export function effectiveStatusColumn(t: StatusColumns, now: SQLWrapper | number): SQL<PaymentStatus> {
  return sql<PaymentStatus>`CASE WHEN ${t.status} = 'pending' AND ${t.expiresAt} <= ${now} THEN 'expired' ELSE ${t.status} END`;
}
