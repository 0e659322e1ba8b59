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
  /** The endToEndId of the Pix that paid it; null when confirmed through §4 (or not paid). */
  endToEndId: string | null;
  /** Settled refunds only. */
  refundedCents: number;
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

/** Why a received Pix did not pay a payment (CONTRACT §11). */
export type UnmatchedReason = "UNKNOWN_TXID" | "AMOUNT_MISMATCH" | "PAID_AFTER_EXPIRY" | "DUPLICATE_PAYMENT";

/** One entry of the received-Pix ledger. */
export interface ReceivedPix {
  id: number;
  endToEndId: string;
  txid: string | null;
  amountCents: number;
  /** `horario`: when the PSP processed it. */
  receivedAt: number;
  payerInfo: string | null;
  status: "matched" | "unmatched";
  reason: UnmatchedReason | null;
  /** The payment its txid names (null for UNKNOWN_TXID). */
  paymentId: number | null;
  refundedCents: number;
}

export type RefundStatus = "pending" | "refunded" | "failed";

/** A refund (devolução); its id is also the BCB devolução id. */
export interface Refund {
  id: string;
  paymentId: number;
  endToEndId: string | null;
  amountCents: number;
  reason: string | null;
  status: RefundStatus;
  failureReason: string | null;
  rtrId: string | null;
  createdAt: number;
  /** When it became refunded or failed. */
  settledAt: number | null;
}

/** Refunds are accepted up to this long after the payment was paid (CONTRACT §11). */
export const REFUND_WINDOW_MS = 90 * 24 * 60 * 60 * 1000;

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
