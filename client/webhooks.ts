/**
 * Receiving the service's merchant webhooks (CONTRACT §10): `@pix-payment-api/client/webhooks`.
 * `constructWebhookEvent(rawBody, headers, secret)` checks the Standard Webhooks signature of a delivery
 * (https://www.standardwebhooks.com/) and returns its body as a typed `WebhookEvent`, or throws a
 * `WebhookVerificationError`. It runs on the merchant's back end (Node.js ≥ 20, Bun): it uses node:crypto,
 * which is why it is an entry point of its own and not part of the main one that browsers bundle.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import {
  PAYMENT_EVENT_TYPES,
  REFUND_EVENT_TYPES,
  type RefundWebhookEvent,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookEventType,
} from "../src/webhooks/events.ts";

export type {
  PaymentWebhookEvent,
  PaymentWebhookEventType,
  RefundWebhookEvent,
  RefundWebhookEventType,
  WebhookEvent,
  WebhookEventType,
  WebhookPayment,
  WebhookRefund,
} from "../src/webhooks/events.ts";
export { PAYMENT_EVENT_TYPES, REFUND_EVENT_TYPES, WEBHOOK_EVENT_TYPES };

/** How far a delivery's `webhook-timestamp` may be from now, either way, unless told otherwise: 5 minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = "whsec_";

/**
 * A delivery that is not genuine, not fresh or not an event: answer it with a 4xx. Its message says which:
 * "Missing webhook-id header" (or webhook-timestamp, webhook-signature), "Invalid webhook-timestamp header",
 * "Webhook timestamp too old", "Webhook timestamp in the future", "No matching signature",
 * "Invalid webhook body", "Unknown webhook event type: <type>".
 */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Anything with the Fetch API's `headers.get(name)` (a Request's `Headers`, in Bun, Deno and Node). */
export interface HeadersLike {
  get(name: string): string | null;
}

/** The request's headers: a `Headers` object, or Node's `req.headers` (Express, node:http). */
export type WebhookRequestHeaders = HeadersLike | Record<string, string | string[] | undefined>;

export interface ConstructWebhookEventOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
}

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional). */
function secretKey(secret: string): Buffer {
  if (typeof secret !== "string") throw new TypeError("The webhook secret must be a string (whsec_…)");
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  if (key.length === 0) throw new TypeError("The webhook secret is empty: pass the whsec_… secret of the endpoint");
  return key;
}

function header(headers: WebhookRequestHeaders, name: string): string | undefined {
  let value: string | string[] | null | undefined;
  if (typeof (headers as HeadersLike).get === "function") value = (headers as HeadersLike).get(name);
  else {
    const record = headers as Record<string, string | string[] | undefined>;
    value = record[name];
    if (value === undefined) {
      const key = Object.keys(record).find((k) => k.toLowerCase() === name);
      if (key !== undefined) value = record[key];
    }
  }
  if (Array.isArray(value)) {
    // Several signature headers are several signatures; several ids or timestamps are not a delivery.
    if (name === "webhook-signature") value = value.join(" ");
    else if (new Set(value).size > 1) throw new WebhookVerificationError(`Invalid ${name} header`);
    else value = value[0];
  }
  if (value === null || value === undefined || value === "") return undefined;
  return value;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Verifies a delivery and returns its event. `rawBody` is the request body exactly as received (the string
 * or bytes; not parsed and re-serialized JSON, which would not match the signature); `headers` the
 * request's; `secret` the endpoint's `whsec_…` secret, or several (any one may match). A delivery may carry
 * several signatures separated by spaces (during a secret rotation, one per secret): one valid `v1`
 * signature is enough. Throws a `WebhookVerificationError` unless the signature of
 * `<webhook-id>.<webhook-timestamp>.<body>` matches, the timestamp is within `toleranceSeconds` of now
 * and the body is an event of a known type; throws a TypeError for a missing or empty secret.
 */
export function constructWebhookEvent(
  rawBody: string | Uint8Array,
  headers: WebhookRequestHeaders,
  secret: string | string[],
  options: ConstructWebhookEventOptions = {},
): WebhookEvent {
  const secrets = typeof secret === "string" ? [secret] : secret;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new TypeError("constructWebhookEvent needs the endpoint's webhook secret (whsec_…)");
  }
  const keys = secrets.map(secretKey);
  if (typeof rawBody !== "string" && !(rawBody instanceof Uint8Array)) {
    throw new TypeError(
      "constructWebhookEvent needs the raw request body (a string or bytes), not parsed JSON: " +
        "e.g. express.raw({ type: 'application/json' }) or await request.text()",
    );
  }
  if (headers === null || typeof headers !== "object") throw new TypeError("constructWebhookEvent needs the headers");

  const id = header(headers, "webhook-id");
  if (id === undefined) throw new WebhookVerificationError("Missing webhook-id header");
  const timestamp = header(headers, "webhook-timestamp");
  if (timestamp === undefined) throw new WebhookVerificationError("Missing webhook-timestamp header");
  const signatures = header(headers, "webhook-signature");
  if (signatures === undefined) throw new WebhookVerificationError("Missing webhook-signature header");

  // Whole seconds, as the specification writes them ("123.9" or "123junk" is not a timestamp).
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError("Invalid webhook-timestamp header");
  const seconds = Number(timestamp);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
  if (nowSeconds - seconds > tolerance) throw new WebhookVerificationError("Webhook timestamp too old");
  if (seconds - nowSeconds > tolerance) throw new WebhookVerificationError("Webhook timestamp in the future");

  // The signature covers the body's bytes as sent: a string is its UTF-8.
  const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : rawBody;
  const expected = keys.map((key) =>
    Buffer.from(createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64")),
  );
  let matched = false;
  for (const versioned of signatures.split(" ")) {
    const comma = versioned.indexOf(",");
    if (comma < 0 || versioned.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(versioned.slice(comma + 1));
    // Every expected signature is compared (no early exit), each in constant time.
    for (const e of expected) if (e.length === given.length && timingSafeEqual(e, given)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("No matching signature");

  let event: unknown;
  try {
    event = JSON.parse(typeof rawBody === "string" ? rawBody : new TextDecoder().decode(rawBody));
  } catch {
    throw new WebhookVerificationError("Invalid webhook body");
  }
  if (!isObject(event) || typeof event.type !== "string") throw new WebhookVerificationError("Invalid webhook body");
  if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(event.type)) {
    throw new WebhookVerificationError(`Unknown webhook event type: ${event.type.slice(0, 100)}`);
  }
  const type = event.type as WebhookEventType;
  const data = event.data;
  const isRefund = (REFUND_EVENT_TYPES as readonly string[]).includes(type);
  if (
    typeof event.timestamp !== "string" ||
    !isObject(data) ||
    !isObject(data.payment) ||
    (isRefund && !isObject(data.refund))
  ) {
    throw new WebhookVerificationError("Invalid webhook body");
  }
  return event as unknown as WebhookEvent;
}

/** Whether an event is about a refund (then `event.data.refund` is there). */
export function isRefundEvent(event: WebhookEvent): event is RefundWebhookEvent {
  return (REFUND_EVENT_TYPES as readonly string[]).includes(event.type);
}
