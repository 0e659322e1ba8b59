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
  /** What the charge is for; shown to the payer. */
  description: string | null;
  /** The merchant's own string pairs; returned to the merchant, never shown to the payer. */
  metadata: Record<string, string>;
  /** Where the checkout page links back to once paid. */
  returnUrl: string | null;
}

/** Limits of a charge's order fields (CONTRACT §3), in characters (code points), not UTF-16 units. */
export const ORDER_LIMITS = {
  descriptionChars: 140,
  metadataKeys: 20,
  metadataKeyChars: 40,
  metadataValueChars: 500,
  /** Not in the contract: long enough for any shop's order URL, short enough for a page link. */
  returnUrlChars: 2048,
} as const;

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/**
 * The rule every reader follows: a pending payment past its expiry is expired, whether or not the sweeper
 * has marked it yet. (Storage filters and counts by the same rule in SQL: src/db/effective-status.ts.)
 */
export function effectiveStatus(stored: PaymentStatus, expiresAt: number, now: number): PaymentStatus {
  return stored === "pending" && expiresAt <= now ? "expired" : stored;
}

/** A bank_payment_id as we issue it (crypto.randomUUID: UUID v4 form, lowercase). */
export const BANK_PAYMENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
