import { z } from "zod";
import { END_TO_END_ID, pixCallbackSchema } from "../pix/api-pix.ts";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/events.ts";
import { MAX_DELIVERY_PAGE } from "./merchant-webhooks.ts";
import { MAX_PAGE_SIZE, ORDER_LIMITS } from "./model.ts";
import { MAX_CENTS, reaisToCents } from "./money.ts";

/** Reais on the wire (a JSON number with at most 2 decimals); integer cents once parsed. */
export const moneySchema = z
  .number()
  .positive()
  .max(MAX_CENTS / 100)
  .transform((value, ctx) => {
    const cents = reaisToCents(value);
    if (cents === null) {
      ctx.addIssue({ code: "custom", message: "must be a positive amount with at most 2 decimals" });
      return z.NEVER;
    }
    return cents;
  })
  .meta({
    description: "Amount in reais, a JSON number with at most 2 decimals (254.3 = R$ 254,30)",
    examples: [254.3],
  });

export const paymentStatusSchema = z.enum(["pending", "paid", "expired"]);

const chars = (v: string) => [...v].length;
/** C0 and C1 control characters (newlines and tabs included): none belongs in a one-line label. */
const CONTROL = /\p{Cc}/u;

/** What the charge is for, shown to the payer: 1 to 140 characters, no control characters. */
export const descriptionSchema = z
  .string()
  .refine((v) => chars(v) >= 1 && chars(v) <= ORDER_LIMITS.descriptionChars && !CONTROL.test(v), {
    message: `must be 1 to ${ORDER_LIMITS.descriptionChars} characters without control characters`,
  })
  .meta({
    minLength: 1,
    maxLength: ORDER_LIMITS.descriptionChars,
    description: "What the charge is for; shown to the payer on the checkout page",
    examples: ["Pedido #1234"],
  });

const metadataRecord = z
  .record(
    z.string().refine((k) => chars(k) >= 1 && chars(k) <= ORDER_LIMITS.metadataKeyChars && !CONTROL.test(k), {
      message: `keys must be 1 to ${ORDER_LIMITS.metadataKeyChars} characters`,
    }),
    z.string().refine((v) => chars(v) <= ORDER_LIMITS.metadataValueChars, {
      message: `values must be strings of at most ${ORDER_LIMITS.metadataValueChars} characters`,
    }),
  )
  .refine((m) => Object.keys(m).length <= ORDER_LIMITS.metadataKeys, {
    message: `at most ${ORDER_LIMITS.metadataKeys} keys`,
  });

/**
 * The merchant's own string pairs, returned as given and never shown to the payer. zod drops an own
 * `__proto__` key without a word, which would not be "as given", so such an object is refused first.
 */
export const metadataSchema = z
  .preprocess<unknown, typeof metadataRecord, Record<string, string>>((v, ctx) => {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, "__proto__")) return v;
    ctx.addIssue({ code: "custom", message: "__proto__ cannot be a key" });
    return z.NEVER;
  }, metadataRecord)
  .meta({
    maxProperties: ORDER_LIMITS.metadataKeys,
    propertyNames: { minLength: 1, maxLength: ORDER_LIMITS.metadataKeyChars },
    additionalProperties: { type: "string", maxLength: ORDER_LIMITS.metadataValueChars },
    description: `At most ${ORDER_LIMITS.metadataKeys} string keys of at most ${ORDER_LIMITS.metadataKeyChars} \
characters, string values of at most ${ORDER_LIMITS.metadataValueChars}; never shown to the payer`,
    examples: [{ order_id: "1234" }],
  });

/** An absolute http(s) URL as written (no surrounding spaces); https only in production (the service checks). */
export function isReturnUrl(v: string): boolean {
  if (v.length > ORDER_LIMITS.returnUrlChars || /[\s\p{Cc}]/u.test(v)) return false;
  if (!/^https?:\/\//i.test(v) || !URL.canParse(v)) return false;
  return new URL(v).hostname !== "";
}

export const returnUrlSchema = z
  .string()
  .refine(isReturnUrl, { message: "must be an absolute http(s) URL" })
  .meta({
    format: "uri",
    maxLength: ORDER_LIMITS.returnUrlChars,
    description: "Where the checkout page links back to once paid: https (http is accepted outside production)",
    examples: ["https://loja.example/pedidos/1234"],
  });

/** The payment object of CONTRACT §3. */
export const paymentSchema = z
  .object({
    id: z.number().int(),
    bank_payment_id: z.string().meta({ format: "uuid", description: "Random UUID v4; the payer's capability" }),
    value: z.number().meta({ description: "Amount in reais, at most 2 decimals" }),
    paid: z.boolean(),
    status: paymentStatusSchema,
    expiration_date: z.string().meta({ description: "HTTP-date in UTC", examples: ["Tue, 08 Apr 2025 15:45:25 GMT"] }),
    qr_code: z.string().meta({ format: "uri", description: "Absolute URL of the QR image" }),
    pix_copy_paste: z.string().meta({ description: "PIX BR Code (EMV QRCPS-MPM) with CRC16" }),
    checkout_url: z.string().meta({ format: "uri", description: "Absolute URL of the payer's checkout page" }),
    created_at: z.string().meta({ format: "date-time", description: "ISO 8601, UTC" }),
    paid_at: z.string().nullable().meta({ format: "date-time", description: "ISO 8601, UTC; null until paid" }),
    description: z.string().nullable().meta({ description: "What the charge is for; null when not given" }),
    metadata: z
      .record(z.string(), z.string())
      .meta({ description: "The merchant's string pairs, as given; {} when none. Never shown to the payer" }),
    return_url: z
      .string()
      .nullable()
      .meta({ format: "uri", description: "Link back to the shop; null when not given" }),
    end_to_end_id: z
      .string()
      .nullable()
      .meta({ description: "The endToEndId of the Pix that paid it (CONTRACT §11); null otherwise" }),
    refunded_value: z.number().meta({ description: "Reais refunded so far (settled refunds only)" }),
  })
  .meta({ id: "Payment" });

/**
 * The payment as a payer's channels carry it (/ws, payments.watch): everything but `metadata`, which is the
 * merchant's and is never shown to the payer; whoever holds a bank_payment_id gets no more than this.
 */
export const payerPaymentSchema = paymentSchema.omit({ metadata: true }).meta({ id: "PayerPayment" });

export const createPaymentInput = z.strictObject({
  value: moneySchema,
  description: descriptionSchema.nullish(),
  metadata: metadataSchema.nullish(),
  return_url: returnUrlSchema.nullish(),
});
export const createPaymentOutput = z.object({ message: z.string(), payment: paymentSchema });

export const getPaymentInput = z.strictObject({ id: z.number().int().positive() });
export const getPaymentOutput = z.object({ payment: paymentSchema });

export const listPaymentsInput = z.strictObject({
  status: paymentStatusSchema.optional(),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .optional()
    .meta({ description: `1 to ${MAX_PAGE_SIZE}, default 20` }),
  cursor: z.string().max(200).optional().meta({ description: "next_cursor of the previous page" }),
});
export const listPaymentsOutput = z.object({ payments: z.array(paymentSchema), next_cursor: z.string().nullable() });

export const confirmPaymentInput = z.strictObject({
  bank_payment_id: z.string().min(1).max(100),
  value: moneySchema,
});
export const messageOutput = z.object({ message: z.string() });

export const watchPaymentInput = z.strictObject({ bank_payment_id: z.string().min(1).max(100) });

const pageLimit = z
  .number()
  .int()
  .min(1)
  .max(MAX_PAGE_SIZE)
  .optional()
  .meta({ description: `1 to ${MAX_PAGE_SIZE}, default 20` });
const pageCursor = z.string().max(200).optional().meta({ description: "next_cursor of the previous page" });

/** A received Pix as the ledger shows it (CONTRACT §11). */
export const receivedPixSchema = z
  .object({
    end_to_end_id: z.string().meta({ description: "The Pix's endToEndId (32 characters)" }),
    txid: z.string().nullable().meta({ description: "The txid the Pix carried (the BR Code's field 62/05)" }),
    value: z.number().meta({ description: "Amount in reais" }),
    received_at: z.string().meta({ description: "ISO 8601, UTC: when the PSP processed the Pix (`horario`)" }),
    payer_info: z.string().nullable().meta({ description: "The payer's free text (`infoPagador`)" }),
    status: z.enum(["matched", "unmatched"]),
    reason: z
      .enum(["UNKNOWN_TXID", "AMOUNT_MISMATCH", "PAID_AFTER_EXPIRY", "DUPLICATE_PAYMENT"])
      .nullable()
      .meta({ description: "Why an unmatched Pix paid nothing; null when matched" }),
    payment_id: z
      .number()
      .int()
      .nullable()
      .meta({ description: "The payment its txid names (also when unmatched, except UNKNOWN_TXID)" }),
    refunded_value: z.number().meta({ description: "Reais of this Pix refunded through this service" }),
  })
  .meta({ id: "ReceivedPix" });

export const pixNotificationInput = pixCallbackSchema;
export const listPixInput = z.strictObject({
  status: z.enum(["matched", "unmatched"]).optional(),
  limit: pageLimit,
  cursor: pageCursor,
});
export const listPixOutput = z.object({ pix: z.array(receivedPixSchema), next_cursor: z.string().nullable() });
export const getPixInput = z.strictObject({ end_to_end_id: z.string().regex(END_TO_END_ID) });
export const getPixOutput = z.object({ pix: receivedPixSchema });

/** A refund (devolução) of CONTRACT §11. */
export const refundSchema = z
  .object({
    id: z.string().meta({ description: "rf + letters and digits, at most 35: also the BCB devolução id" }),
    payment_id: z.number().int(),
    value: z.number().meta({ description: "Amount in reais" }),
    reason: z.string().nullable(),
    status: z.enum(["pending", "refunded", "failed"]),
    failure_reason: z.string().nullable(),
    created_at: z.string().meta({ description: "ISO 8601, UTC" }),
    refunded_at: z.string().nullable().meta({ description: "ISO 8601, UTC; null unless refunded" }),
  })
  .meta({ id: "Refund" });

export const createRefundInput = z.strictObject({
  payment_id: z.number().int().positive(),
  value: moneySchema,
  reason: z.string().min(1).max(140).nullish().meta({ description: "Shown to the payer (`descricao`), ≤ 140" }),
});
export const createRefundOutput = z.object({ message: z.string(), refund: refundSchema });
export const listRefundsInput = z.strictObject({ payment_id: z.number().int().positive() });
export const listRefundsOutput = z.object({ refunds: z.array(refundSchema) });

export type PaymentWire = z.infer<typeof paymentSchema>;
export type PayerPaymentWire = z.infer<typeof payerPaymentSchema>;
export type ReceivedPixWire = z.infer<typeof receivedPixSchema>;
export type RefundWire = z.infer<typeof refundSchema>;

// ------------------------------------------------------------------------------ merchant webhooks (§10)

const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);

/** A merchant webhook endpoint (CONTRACT §10); never its secret. */
export const webhookEndpointSchema = z
  .object({
    id: z.string().meta({ description: "we_ + 32 hex digits" }),
    url: z.string().meta({ format: "uri" }),
    events: z.array(webhookEventTypeSchema).meta({ description: "The event types sent to it; empty: all" }),
    description: z.string().nullable(),
    enabled: z.boolean().meta({ description: "false once it answered 410 Gone: nothing more is sent to it" }),
    created_at: z.string().meta({ format: "date-time" }),
  })
  .meta({ id: "WebhookEndpoint" });

/** One event's delivery to one endpoint, with its attempts so far. */
export const webhookDeliverySchema = z
  .object({
    id: z.string().meta({ description: "wd_ + the event id's 32 hex digits + _ + the endpoint's number" }),
    event_id: z
      .string()
      .meta({ description: "evt_ + 32 hex digits (time first): the webhook-id header of every attempt" }),
    event_type: webhookEventTypeSchema,
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable().meta({ description: "The receiver's last HTTP status" }),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable().meta({ format: "date-time", description: "null unless pending" }),
    created_at: z.string().meta({ format: "date-time" }),
    delivered_at: z.string().nullable().meta({ format: "date-time" }),
  })
  .meta({ id: "WebhookDelivery" });

const endpointId = z.string().min(1).max(100);

export const createWebhookEndpointInput = z.strictObject({
  url: z
    .string()
    .max(2048)
    .meta({ format: "uri", description: "https in production, and not a loopback, private or link-local address" }),
  events: z
    .array(z.string().max(100))
    .max(WEBHOOK_EVENT_TYPES.length * 4)
    .optional()
    .meta({
      description: `Event types to send (${WEBHOOK_EVENT_TYPES.join(", ")}); omitted or empty: all`,
    }),
  description: z.string().min(1).max(200).nullish(),
});
export const createWebhookEndpointOutput = z.object({
  endpoint: webhookEndpointSchema,
  secret: z.string().meta({ description: "whsec_…: shown here only; verify deliveries with it" }),
});
export const webhookEndpointIdInput = z.strictObject({ id: endpointId });
export const getWebhookEndpointOutput = z.object({ endpoint: webhookEndpointSchema });
export const listWebhookEndpointsOutput = z.object({ endpoints: z.array(webhookEndpointSchema) });
export const emptyOutput = z.object({});
export const rotateSecretOutput = z.object({
  secret: z.string().meta({ description: "The new whsec_…; the old one also signs for 24 h" }),
});
export const listDeliveriesInput = z.strictObject({
  id: endpointId,
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_DELIVERY_PAGE)
    .optional()
    .meta({ description: `1 to ${MAX_DELIVERY_PAGE}, default 20` }),
  cursor: pageCursor,
});
export const listDeliveriesOutput = z.object({
  deliveries: z.array(webhookDeliverySchema),
  next_cursor: z.string().nullable(),
});
export const retryDeliveryInput = z.strictObject({ id: endpointId, delivery_id: z.string().min(1).max(100) });
export const retryDeliveryOutput = z.object({ delivery: webhookDeliverySchema });

export type WebhookEndpointWire = z.infer<typeof webhookEndpointSchema>;
export type WebhookDeliveryWire = z.infer<typeof webhookDeliverySchema>;
