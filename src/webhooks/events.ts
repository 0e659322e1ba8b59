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
