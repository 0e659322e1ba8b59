/**
 * `constructWebhookEvent` of the client package (CONTRACT §10), from its source: interop with the
 * `standardwebhooks` reference package both ways, secret rotation, and every way a delivery is refused.
 * Time is injected (`now`), nothing sleeps.
 */
import { describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import {
  constructWebhookEvent,
  isRefundEvent,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookPayment,
  type WebhookRefund,
  WebhookVerificationError,
} from "../client/webhooks.ts";
import { secretKey, signatureHeaders } from "../src/webhooks/standard-webhooks.ts";

const secret = (label: string) => `whsec_${Buffer.from(`merchant-endpoint-secret-${label}-32b`).toString("base64")}`;
const OLD_SECRET = secret("old");
const NEW_SECRET = secret("new");
const NOW_MS = Date.UTC(2026, 11, 1, 12, 0, 0);
const NOW_S = NOW_MS / 1000;
const now = () => NOW_MS;

const payment: WebhookPayment = {
  id: 7,
  bank_payment_id: "e3e4ffae-8bcb-4796-b959-32e5d00e130c",
  value: 254.3,
  paid: true,
  status: "paid",
  expiration_date: "Tue, 01 Dec 2026 12:30:00 GMT",
  qr_code: "https://pay.example.com/pay/e3e4ffae-8bcb-4796-b959-32e5d00e130c/qr.png",
  pix_copy_paste: "00020101021226580014br.gov.bcb.pix…6304ABCD",
  checkout_url: "https://pay.example.com/pay/e3e4ffae-8bcb-4796-b959-32e5d00e130c",
  created_at: "2026-12-01T11:59:00.000Z",
  paid_at: "2026-12-01T11:59:30.000Z",
  description: "Pedido #1234",
  metadata: { order_id: "1234" },
  return_url: null,
  end_to_end_id: "E12345678202612011159abcdefghijk",
  refunded_value: 0,
};
const refund: WebhookRefund = {
  id: "rfabc123",
  payment_id: 7,
  value: 54.3,
  reason: "Produto devolvido",
  status: "refunded",
  failure_reason: null,
  created_at: "2026-12-01T11:59:40.000Z",
  refunded_at: "2026-12-01T11:59:50.000Z",
};
const paidBody = JSON.stringify({ type: "payment.paid", timestamp: "2026-12-01T11:59:30.000Z", data: { payment } });
const refundBody = JSON.stringify({
  type: "refund.succeeded",
  timestamp: "2026-12-01T11:59:50.000Z",
  data: { refund, payment },
});

/** Headers as the service sends them, signed with each of the secrets (two during a rotation). */
function signed(body: string, secrets: string[] = [OLD_SECRET], seconds = NOW_S, id = "evt_0001") {
  return signatureHeaders(secrets.map(secretKey), id, seconds, body);
}

/** The WebhookVerificationError message constructWebhookEvent throws, or "accepted". */
function refusal(...args: Parameters<typeof constructWebhookEvent>): string {
  try {
    constructWebhookEvent(...args);
    return "accepted";
  } catch (err) {
    if (!(err instanceof WebhookVerificationError)) throw err;
    expect(err.name).toBe("WebhookVerificationError");
    expect(err).toBeInstanceOf(Error);
    return err.message;
  }
}

describe("interop with the standardwebhooks package", () => {
  test("a body signed by Webhook#sign is accepted and returned as the typed event", () => {
    const wh = new Webhook(OLD_SECRET);
    const signature = wh.sign("msg_2Lh9KRb0pzN4LePd3XiA", new Date(NOW_MS), paidBody);
    const headers = {
      "webhook-id": "msg_2Lh9KRb0pzN4LePd3XiA",
      "webhook-timestamp": String(NOW_S),
      "webhook-signature": signature,
    };
    const event = constructWebhookEvent(paidBody, headers, OLD_SECRET, { now });
    expect(event).toEqual(JSON.parse(paidBody));
    expect(event.type).toBe("payment.paid");
    expect(event.data.payment.metadata).toEqual({ order_id: "1234" });
    // Bytes and a Headers object work as well as a string and Node's req.headers.
    const bytes = new TextEncoder().encode(paidBody);
    expect(constructWebhookEvent(bytes, new Headers(headers), OLD_SECRET, { now })).toEqual(event);
    expect(constructWebhookEvent(Buffer.from(bytes), headers, OLD_SECRET, { now })).toEqual(event);
  });

  test("the service's signature (signatureHeaders) verifies with Webhook#verify and with constructWebhookEvent", () => {
    const seconds = Math.floor(Date.now() / 1000); // Webhook#verify reads the real clock
    const headers = signed(refundBody, [OLD_SECRET], seconds);
    expect(new Webhook(OLD_SECRET).verify(refundBody, headers)).toEqual(JSON.parse(refundBody));
    const event = constructWebhookEvent(refundBody, headers, OLD_SECRET);
    expect(event.type).toBe("refund.succeeded");
    if (event.type === "refund.succeeded") expect(event.data.refund).toEqual(refund);
    expect(isRefundEvent(event)).toBe(true);
  });

  test("a non-ASCII body is signed over its UTF-8 bytes, as the package signs it", () => {
    const body = JSON.stringify({
      type: "payment.created",
      timestamp: "2026-12-01T12:00:00.000Z",
      data: { payment },
    }).replace("Pedido #1234", "Pedido nº 1234 — ação");
    const headers = { "webhook-id": "evt_utf8", "webhook-timestamp": String(NOW_S) };
    const signature = new Webhook(NEW_SECRET).sign("evt_utf8", new Date(NOW_MS), body);
    const full = { ...headers, "webhook-signature": signature };
    expect(constructWebhookEvent(body, full, NEW_SECRET, { now }).data.payment.description).toBe(
      "Pedido nº 1234 — ação",
    );
    expect(constructWebhookEvent(Buffer.from(body), full, NEW_SECRET, { now }).type).toBe("payment.created");
  });
});

describe("secret rotation", () => {
  const headers = signed(refundBody, [OLD_SECRET, NEW_SECRET]);

  test("a delivery with both signatures (space-separated) is accepted with either secret", () => {
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const s of [OLD_SECRET, NEW_SECRET]) {
      expect(constructWebhookEvent(refundBody, headers, s, { now }).type).toBe("refund.succeeded");
    }
    expect(refusal(refundBody, headers, secret("other"), { now })).toBe("No matching signature");
  });

  test("several secrets: a delivery signed with any one of them is accepted", () => {
    for (const s of [OLD_SECRET, NEW_SECRET]) {
      expect(constructWebhookEvent(paidBody, signed(paidBody, [s]), [OLD_SECRET, NEW_SECRET], { now }).type).toBe(
        "payment.paid",
      );
    }
    expect(refusal(paidBody, signed(paidBody, [secret("other")]), [OLD_SECRET, NEW_SECRET], { now })).toBe(
      "No matching signature",
    );
  });

  test("unknown signature versions are skipped; a v1 among them still counts", () => {
    const v1 = signed(paidBody)["webhook-signature"];
    const mixed = { ...signed(paidBody), "webhook-signature": `v1a,${v1.slice(3)} v2,abc ${v1}` };
    expect(constructWebhookEvent(paidBody, mixed, OLD_SECRET, { now }).type).toBe("payment.paid");
    const onlyOthers = { ...signed(paidBody), "webhook-signature": `v1a,${v1.slice(3)} v2,${v1.slice(3)}` };
    expect(refusal(paidBody, onlyOthers, OLD_SECRET, { now })).toBe("No matching signature");
  });
});

describe("refused deliveries throw WebhookVerificationError", () => {
  const headers = signed(paidBody);

  test("a tampered body, id or timestamp, a wrong secret, a truncated signature", () => {
    expect(refusal(paidBody.replace("254.3", "2543"), headers, OLD_SECRET, { now })).toBe("No matching signature");
    expect(refusal(paidBody, { ...headers, "webhook-id": "evt_0002" }, OLD_SECRET, { now })).toBe(
      "No matching signature",
    );
    expect(refusal(paidBody, { ...headers, "webhook-timestamp": String(NOW_S + 1) }, OLD_SECRET, { now })).toBe(
      "No matching signature",
    );
    expect(refusal(paidBody, headers, NEW_SECRET, { now })).toBe("No matching signature");
    const truncated = { ...headers, "webhook-signature": headers["webhook-signature"].slice(0, -2) };
    expect(refusal(paidBody, truncated, OLD_SECRET, { now })).toBe("No matching signature");
  });

  test("a timestamp 6 minutes old or 6 minutes ahead; 5 minutes either way is still fine", () => {
    expect(refusal(paidBody, signed(paidBody, [OLD_SECRET], NOW_S - 6 * 60), OLD_SECRET, { now })).toBe(
      "Webhook timestamp too old",
    );
    expect(refusal(paidBody, signed(paidBody, [OLD_SECRET], NOW_S + 6 * 60), OLD_SECRET, { now })).toBe(
      "Webhook timestamp in the future",
    );
    for (const seconds of [NOW_S - 5 * 60, NOW_S + 5 * 60]) {
      expect(refusal(paidBody, signed(paidBody, [OLD_SECRET], seconds), OLD_SECRET, { now })).toBe("accepted");
    }
    // toleranceSeconds narrows (or widens) the window.
    const minuteOld = signed(paidBody, [OLD_SECRET], NOW_S - 60);
    expect(refusal(paidBody, minuteOld, OLD_SECRET, { now, toleranceSeconds: 30 })).toBe("Webhook timestamp too old");
    expect(refusal(paidBody, minuteOld, OLD_SECRET, { now, toleranceSeconds: 90 })).toBe("accepted");
  });

  test("a timestamp that is not whole seconds", () => {
    for (const bad of ["12.5", "1764590400junk", "-1", " 1764590400"]) {
      expect(refusal(paidBody, { ...headers, "webhook-timestamp": bad }, OLD_SECRET, { now })).toBe(
        "Invalid webhook-timestamp header",
      );
    }
  });

  test("missing headers, named; header names in any case", () => {
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"] as const) {
      const { [name]: _gone, ...rest } = headers;
      expect(refusal(paidBody, rest, OLD_SECRET, { now })).toBe(`Missing ${name} header`);
      expect(refusal(paidBody, { ...headers, [name]: "" }, OLD_SECRET, { now })).toBe(`Missing ${name} header`);
      expect(refusal(paidBody, new Headers(rest), OLD_SECRET, { now })).toBe(`Missing ${name} header`);
    }
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(refusal(paidBody, upper, OLD_SECRET, { now })).toBe("accepted");
    // Node gives repeated headers as arrays: several signature headers are several signatures.
    const other = signed(paidBody, [NEW_SECRET])["webhook-signature"];
    const repeated = { ...headers, "webhook-signature": [other, headers["webhook-signature"]] };
    expect(refusal(paidBody, repeated, OLD_SECRET, { now })).toBe("accepted");
    expect(refusal(paidBody, { ...headers, "webhook-id": ["evt_0001", "evt_0002"] }, OLD_SECRET, { now })).toBe(
      "Invalid webhook-id header",
    );
  });

  test("a signed body that is not JSON, not an event, or of an unknown type", () => {
    const refuse = (body: string) => refusal(body, signed(body), OLD_SECRET, { now });
    expect(refuse("not json")).toBe("Invalid webhook body");
    expect(refuse("")).toBe("Invalid webhook body");
    expect(refuse("[]")).toBe("Invalid webhook body");
    expect(refuse("null")).toBe("Invalid webhook body");
    expect(refuse(JSON.stringify({ timestamp: "x", data: { payment } }))).toBe("Invalid webhook body");
    expect(refuse(JSON.stringify({ type: "payment.paid", data: { payment } }))).toBe("Invalid webhook body");
    expect(refuse(JSON.stringify({ type: "payment.paid", timestamp: "x" }))).toBe("Invalid webhook body");
    expect(refuse(JSON.stringify({ type: "payment.paid", timestamp: "x", data: { payment: "7" } }))).toBe(
      "Invalid webhook body",
    );
    // A refund event without its refund.
    expect(refuse(JSON.stringify({ type: "refund.failed", timestamp: "x", data: { payment } }))).toBe(
      "Invalid webhook body",
    );
    expect(refuse(JSON.stringify({ type: "payment.refunded", timestamp: "x", data: { payment } }))).toBe(
      "Unknown webhook event type: payment.refunded",
    );
    // Every known type with a well-formed body passes.
    for (const type of WEBHOOK_EVENT_TYPES) {
      expect(refuse(JSON.stringify({ type, timestamp: "x", data: { payment, refund } }))).toBe("accepted");
    }
  });

  test("programming mistakes are TypeErrors, not verification failures", () => {
    expect(() => constructWebhookEvent(paidBody, headers, "", { now })).toThrow(TypeError);
    expect(() => constructWebhookEvent(paidBody, headers, "whsec_", { now })).toThrow(TypeError);
    expect(() => constructWebhookEvent(paidBody, headers, [], { now })).toThrow(TypeError);
    // Express's json() already parsed it: the signature can no longer be checked.
    expect(() => constructWebhookEvent(JSON.parse(paidBody), headers, OLD_SECRET, { now })).toThrow("not parsed JSON");
  });
});

test("the union narrows on type: refund events carry data.refund", () => {
  const event: WebhookEvent = constructWebhookEvent(refundBody, signed(refundBody), OLD_SECRET, { now });
  switch (event.type) {
    case "refund.created":
    case "refund.succeeded":
    case "refund.failed":
      expect(event.data.refund.value).toBe(54.3);
      break;
    default:
      // @ts-expect-error payment events have no refund
      expect(event.data.refund).toBeUndefined();
  }
});
