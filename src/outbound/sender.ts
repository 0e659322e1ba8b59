/**
 * One merchant-webhook delivery attempt over HTTP (CONTRACT §10): `POST <url>` with the signed body, and what came
 * of it. Any 2xx within the timeout is delivered; a 3xx is not followed (a redirect could lead anywhere the URL guard
 * would refuse); everything else is a failure the caller retries, with the receiver's `Retry-After` on 429 and 503
 * and `gone` on 410 (which disables the endpoint). At most 64 KiB of the answer is read, then it is dropped.
 * The URL is checked by the URL guard before this is called; errors name neither headers nor the URL.
 */

export type SendOutcome =
  | { ok: true; status: number; durationMs: number }
  | { ok: false; status: number | null; error: string; retryAfterMs: number | null; gone: boolean; durationMs: number };

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface WebhookSenderOptions {
  /** How long the whole attempt may take, connecting included; default 10 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Wall clock for `Retry-After` HTTP-dates; default `Date.now`. */
  now?: () => number;
}

export type WebhookSender = (request: WebhookRequest) => Promise<SendOutcome>;

export const WEBHOOK_USER_AGENT = "pix-payment-api-webhooks/1";
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** How much of a receiver's answer is read (and thrown away) before the rest is cancelled. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_ERROR_LENGTH = 200;

/** The `send` function of one delivery attempt, with its options. */
export function createWebhookSender(options: WebhookSenderOptions = {}): WebhookSender {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;

  async function send(request: WebhookRequest): Promise<SendOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let headers: Headers;
    try {
      headers = new Headers(request.headers);
    } catch {
      // Never echo the headers: they carry the signature.
      return failure(null, "Invalid request headers", elapsed());
    }
    headers.set("content-type", "application/json");
    if (!headers.has("user-agent")) headers.set("user-agent", WEBHOOK_USER_AGENT);

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      let response: Response;
      try {
        response = await doFetch(request.url, {
          method: "POST",
          headers,
          body: request.body,
          redirect: "manual",
          signal: controller.signal,
        });
      } catch (error) {
        const message = controller.signal.aborted ? timedOut(timeoutMs) : describeError(error, request.url);
        return failure(null, message, elapsed());
      }
      // The status decides; the answer's body is read only so the connection can be reused, and never waited for
      // past the timeout.
      await drain(response);
      const status = response.status;
      if (status >= 200 && status < 300) return { ok: true, status, durationMs: elapsed() };
      const error = status >= 300 && status < 400 ? `Redirect (HTTP ${status}) not followed` : `HTTP ${status}`;
      const retryAfterMs =
        status === 429 || status === 503 ? parseRetryAfter(response.headers.get("retry-after"), now()) : null;
      return { ok: false, status, error, retryAfterMs, gone: status === 410, durationMs: elapsed() };
    } finally {
      clearTimeout(timer);
    }
  }

  return send;
}

function failure(status: number | null, error: string, durationMs: number): SendOutcome {
  return { ok: false, status, error, retryAfterMs: null, gone: false, durationMs };
}

function timedOut(ms: number): string {
  return `Timed out after ${ms / 1000} s`;
}

/** Reads and discards at most MAX_RESPONSE_BYTES of the body, then cancels the rest; never throws. */
async function drain(response: Response): Promise<void> {
  const body = response.body;
  if (body === null) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read <= MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value?.byteLength ?? 0;
    }
  } catch {
    return; // aborted by the timeout, or the connection broke: the status is already known
  }
  reader.cancel().catch(() => {});
}

/** A short, secret-free description of a failed connection. */
function describeError(error: unknown, url: string): string {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case "ECONNREFUSED":
    case "ConnectionRefused":
      return "Connection refused";
    case "ECONNRESET":
    case "ConnectionClosed":
      return "Connection reset";
    case "ENOTFOUND":
      return "Host not found";
    case "ETIMEDOUT":
      return "Connection timed out";
  }
  let message = error instanceof Error ? error.message : String(error);
  // Bun prefixes its messages with the code; the URL may carry a token of the merchant's in its query.
  if (typeof code === "string" && message.startsWith(`${code}: `)) message = message.slice(code.length + 2);
  for (const form of [url, URL.parse(url)?.href]) if (form) message = message.split(form).join("<url>");
  message = message.replace(/[\r\n\t\0]+/g, " ").trim() || "Connection failed";
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH - 1)}…` : message;
}

const HTTP_DATE =
  /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * `Retry-After` as milliseconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Anything else, and a date
 * already past, is null: no advice, the caller keeps to its schedule.
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  if (!HTTP_DATE.test(text)) return null;
  const at = Date.parse(text.endsWith("GMT") ? text : `${text} GMT`);
  if (Number.isNaN(at) || at < now) return null;
  return at - now;
}
