import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Standard Webhooks (https://www.standardwebhooks.com/) signing and verification with node:crypto: the
 * `standardwebhooks` package computes its HMAC in pure JavaScript (about 50 µs a webhook), and its key is
 * a private field. The scheme is the package's to the byte (test/standard-webhooks.test.ts checks both
 * directions against it): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several signatures separated
 * by spaces, timestamps in whole seconds within 5 minutes of now.
 */

export const SECRET_PREFIX = "whsec_";
/** How far a webhook-timestamp may be from now, either way. */
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the package). */
export function secretKey(secret: string): Uint8Array {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  if (key.length === 0) throw new Error("Webhook secret is empty");
  return key;
}

/** One signature, `v1,<base64>`. */
export function sign(key: Uint8Array, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** The three headers of a delivery signed with every given key (a rotation sends two signatures). */
export function signatureHeaders(
  keys: readonly Uint8Array[],
  id: string,
  timestampSeconds: number,
  body: string,
): { "webhook-id": string; "webhook-timestamp": string; "webhook-signature": string } {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": keys.map((key) => sign(key, id, timestampSeconds, body)).join(" "),
  };
}

export interface WebhookHeaders {
  "webhook-id"?: string | null;
  "webhook-timestamp"?: string | null;
  "webhook-signature"?: string | null;
}

export interface VerifiedWebhook {
  id: string;
  timestampSeconds: number;
}

/** Checks a signed request against one or more keys; throws WebhookVerificationError when it fails. */
export type WebhookVerifier = (body: string, headers: WebhookHeaders) => VerifiedWebhook;

/**
 * A verifier for the given secrets: any one valid `v1` signature of any secret passes. Time comes from
 * `now` (milliseconds; the wall clock unless a test gives another).
 */
export function createWebhookVerifier(
  secrets: string | readonly string[],
  options: { now?: () => number } = {},
): WebhookVerifier {
  const keys = (typeof secrets === "string" ? [secrets] : secrets).map(secretKey);
  const now = options.now ?? Date.now;
  return (body, headers) => {
    const id = headers["webhook-id"];
    const timestamp = headers["webhook-timestamp"];
    const signatures = headers["webhook-signature"];
    if (!id || !timestamp || !signatures) throw new WebhookVerificationError("Missing required headers");
    // Whole seconds only, as the specification writes them ("123.9" or "123junk" is not a timestamp).
    if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError("Invalid webhook-timestamp");
    const seconds = Number(timestamp);
    const nowSeconds = Math.floor(now() / 1000);
    if (nowSeconds - seconds > TIMESTAMP_TOLERANCE_SECONDS) throw new WebhookVerificationError("Timestamp too old");
    if (seconds - nowSeconds > TIMESTAMP_TOLERANCE_SECONDS) throw new WebhookVerificationError("Timestamp too new");
    const expected = keys.map((key) => Buffer.from(sign(key, id, seconds, body).slice(3)));
    for (const versioned of signatures.split(" ")) {
      const [version, signature] = versioned.split(",", 2);
      if (version !== "v1" || !signature) continue;
      const given = Buffer.from(signature);
      if (expected.some((e) => e.length === given.length && timingSafeEqual(e, given))) {
        return { id, timestampSeconds: seconds };
      }
    }
    throw new WebhookVerificationError("No matching signature found");
  };
}
