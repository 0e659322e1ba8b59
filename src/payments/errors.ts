/** Every way a payment operation can fail that a caller must hear about; mapped once in src/trpc/errors.ts. */
export type PaymentErrorCode =
  | "INVALID_PAYMENT_DATA"
  | "PAYMENT_NOT_FOUND"
  | "PAYMENT_EXPIRED"
  | "IDEMPOTENCY_CONFLICT"
  | "WEBHOOK_ID_REUSED"
  | "INVALID_QUERY"
  | "STORAGE_UNAVAILABLE"
  | "INVALID_RETURN_URL"
  | "PIX_NOT_FOUND"
  | "PAYMENT_NOT_PAID"
  | "REFUND_EXCEEDS"
  | "REFUND_WINDOW_CLOSED"
  | "NO_END_TO_END_ID"
  | "REFUNDS_NOT_CONFIGURED"
  | "PSP_UNAVAILABLE"
  | "INVALID_WEBHOOK_URL"
  | "INVALID_EVENT_TYPE"
  | "WEBHOOK_ENDPOINT_NOT_FOUND"
  | "DELIVERY_NOT_FOUND"
  | "TOO_MANY_WEBHOOK_ENDPOINTS";

/** A domain error: the service throws it, one mapping turns it into an HTTP status and tRPC code. */
export class PaymentError extends Error {
  constructor(
    readonly code: PaymentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "PaymentError";
  }
}

export const PaymentNotFound = () => new PaymentError("PAYMENT_NOT_FOUND", "Payment not found");
export const PaymentExpired = () => new PaymentError("PAYMENT_EXPIRED", "Payment expired");
export const AmountMismatch = () => new PaymentError("INVALID_PAYMENT_DATA", "Invalid payment data");
export const IdempotencyConflict = () =>
  new PaymentError("IDEMPOTENCY_CONFLICT", "Idempotency key reused with different parameters");
export const WebhookIdReused = () =>
  new PaymentError("WEBHOOK_ID_REUSED", "webhook-id already used for another payment");
export const InvalidQuery = (message: string) => new PaymentError("INVALID_QUERY", message);
/**
 * The database cannot take writes (or reads) now: disk full, read-only, I/O error, unreachable. Each storage
 * adapter maps its own failures to it (the cause keeps the driver's error, for the log); callers are told
 * 503 and to retry, and /readyz says not ready until writes work again.
 */
export const StorageUnavailable = (cause?: unknown) =>
  new PaymentError("STORAGE_UNAVAILABLE", "Service unavailable", { cause });

/** True for a StorageUnavailable error. */
export const isStorageUnavailable = (err: unknown): err is PaymentError =>
  err instanceof PaymentError && err.code === "STORAGE_UNAVAILABLE";

/** A return_url the schema accepts but this deployment does not: plain http in production. */
export const InvalidReturnUrl = () => new PaymentError("INVALID_RETURN_URL", "Invalid return_url");

export const PixNotFound = () => new PaymentError("PIX_NOT_FOUND", "Pix not found");
export const PaymentNotPaid = () => new PaymentError("PAYMENT_NOT_PAID", "Payment not paid");
export const RefundExceeds = () => new PaymentError("REFUND_EXCEEDS", "Refund exceeds the refundable amount");
export const RefundWindowClosed = () => new PaymentError("REFUND_WINDOW_CLOSED", "Refund window closed");
export const NoEndToEndId = () => new PaymentError("NO_END_TO_END_ID", "Payment has no end_to_end_id");
export const RefundsNotConfigured = () => new PaymentError("REFUNDS_NOT_CONFIGURED", "Refunds are not configured");
/** Some Pix of a callback could not be confirmed with the PSP now: the PSP should send it again later. */
export const PspUnavailable = (cause?: unknown) =>
  new PaymentError("PSP_UNAVAILABLE", "Pix could not be verified with the PSP", { cause });

/** A merchant webhook URL that is not http(s), or (where not allowed) resolves to a private address (§10). */
export const InvalidWebhookUrl = () => new PaymentError("INVALID_WEBHOOK_URL", "Invalid webhook URL");
export const InvalidEventType = () => new PaymentError("INVALID_EVENT_TYPE", "Invalid event type");
export const WebhookEndpointNotFound = () =>
  new PaymentError("WEBHOOK_ENDPOINT_NOT_FOUND", "Webhook endpoint not found");
export const DeliveryNotFound = () => new PaymentError("DELIVERY_NOT_FOUND", "Delivery not found");
export const TooManyWebhookEndpoints = (max: number) =>
  new PaymentError("TOO_MANY_WEBHOOK_ENDPOINTS", `Too many webhook endpoints (at most ${max})`);
