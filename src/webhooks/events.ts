/**
 * The merchant-webhook events of CONTRACT §10: their names. A delivery's body is
 * `{"type", "timestamp", "data": {...}}`; `data` holds `payment` (§3) and, for refund events, `refund` (§11).
 */

export const PAYMENT_EVENT_TYPES = ["payment.created", "payment.paid", "payment.expired"] as const;
export const REFUND_EVENT_TYPES = ["refund.created", "refund.succeeded", "refund.failed"] as const;
/** Every event type, in the order the contract lists them. */
export const WEBHOOK_EVENT_TYPES = [...PAYMENT_EVENT_TYPES, ...REFUND_EVENT_TYPES] as const;

export type PaymentWebhookEventType = (typeof PAYMENT_EVENT_TYPES)[number];
export type RefundWebhookEventType = (typeof REFUND_EVENT_TYPES)[number];
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The payment object of CONTRACT §3 as a delivery carries it: the same shape as `PaymentWire`
 * (src/payments/schema.ts), written out here because this protocol module imports nothing of the domain;
 * test/webhook-events.types.test.ts fails the type check if the two drift apart.
 */
export type WebhookPayment = {
  id: number;
  bank_payment_id: string;
  /** Reais, at most 2 decimals. */
  value: number;
  paid: boolean;
  status: "pending" | "paid" | "expired";
  /** HTTP-date in UTC. */
  expiration_date: string;
  qr_code: string;
  pix_copy_paste: string;
  checkout_url: string;
  /** ISO 8601, UTC. */
  created_at: string;
  paid_at: string | null;
  description: string | null;
  metadata: Record<string, string>;
  return_url: string | null;
  end_to_end_id: string | null;
  /** Reais refunded so far (settled refunds only). */
  refunded_value: number;
};

/** The refund object of CONTRACT §11 (the shape of `RefundWire`, checked like WebhookPayment). */
export type WebhookRefund = {
  id: string;
  payment_id: number;
  /** Reais. */
  value: number;
  reason: string | null;
  status: "pending" | "refunded" | "failed";
  failure_reason: string | null;
  /** ISO 8601, UTC. */
  created_at: string;
  refunded_at: string | null;
};

/** The body of a `payment.*` delivery. */
export interface PaymentWebhookEvent {
  type: PaymentWebhookEventType;
  /** When the event happened, ISO 8601. */
  timestamp: string;
  data: { payment: WebhookPayment };
}

/** The body of a `refund.*` delivery: the refund and its payment as they were at the event. */
export interface RefundWebhookEvent {
  type: RefundWebhookEventType;
  /** When the event happened, ISO 8601. */
  timestamp: string;
  data: { refund: WebhookRefund; payment: WebhookPayment };
}

/** A delivery's body; `type` tells which (`if (event.type === "refund.succeeded") event.data.refund`). */
export type WebhookEvent = PaymentWebhookEvent | RefundWebhookEvent;
