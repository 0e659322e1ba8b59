import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentClient, TRPCClientError } from "../client/index.ts";
import {
  merchantHeaders,
  restConfirm,
  restCreate,
  signWebhook,
  startTestApp,
  TEST_API_KEY,
  type TestApp,
} from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

const postRaw = (path: string, body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string>) =>
  fetch(`${app.url}${path}`, { method: "POST", headers, body });

describe("POST /payments refuses bad values with 400 Invalid value", () => {
  const bad: Array<[string, string]> = [
    ["missing value", "{}"],
    ["empty body", ""],
    ["a string", '{"value":"10.00"}'],
    ["null", '{"value":null}'],
    ["a boolean", '{"value":true}'],
    ["an array", '{"value":[10]}'],
    ["zero", '{"value":0}'],
    ["negative", '{"value":-1}'],
    ["three decimals", '{"value":1.001}'],
    ["0.1+0.2 style float", '{"value":0.30000000000000004}'],
    ["above the maximum", '{"value":10000000000}'],
    ["huge", '{"value":1e300}'],
    ["overflowing to Infinity", '{"value":1e400}'],
    ["an unknown field", '{"value":10,"currency":"BRL"}'],
    ["not an object", "[1,2]"],
    ["a bare number", "10"],
    ["invalid JSON", '{"value":'],
    ["NaN literal", '{"value":NaN}'],
  ];
  for (const [label, body] of bad) {
    test(label, async () => {
      const res = await postRaw("/payments", body, merchantHeaders());
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).message).toBe("Invalid value");
    });
  }

  test("the same through tRPC and the typed client", async () => {
    const client = createPaymentClient({ url: app.url, apiKey: TEST_API_KEY, batch: false });
    for (const value of [0, -1, 1.001, 0.1 + 0.2, 1e13, "10" as unknown as number]) {
      const err = await client.payments.create.mutate({ value }).catch((e) => e);
      expect(err).toBeInstanceOf(TRPCClientError);
      expect(err.message).toBe("Invalid value");
      expect(err.data.httpStatus).toBe(400);
    }
  });

  test("nothing was created by any refused request", async () => {
    expect((await app.query("SELECT COUNT(*) AS n FROM payments"))[0]).toEqual({ n: 0 });
  });
});

describe("HTTP-level refusals", () => {
  test("a body over 64 KiB gets 413 with a message", async () => {
    const body = JSON.stringify({ value: 10, pad: "x".repeat(70 * 1024) });
    const res = await postRaw("/payments", body, merchantHeaders());
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).message).toMatch(/too large/i);
  });

  test("a chunked body over 64 KiB (no Content-Length) gets 413 too", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${app.url}/payments`, { method: "POST", headers: merchantHeaders(), body: stream });
    expect(res.status).toBe(413);
  });

  test("a wrong content type gets 415", async () => {
    const res = await postRaw("/payments", "value=10", {
      ...merchantHeaders(),
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as any).message).toBe("Content-Type must be application/json");
  });

  test("invalid UTF-8 gets 400 with a message", async () => {
    const res = await postRaw("/payments", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), merchantHeaders());
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).message).toBe("Invalid value");
  });

  test("unknown paths get 404 and known paths with the wrong method 405, both JSON", async () => {
    const missing = await fetch(`${app.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: "Not found" });
    const wrong = await fetch(`${app.url}/payments/pix/confirmation`, { method: "GET" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });
});

describe("GET /payments/{id}", () => {
  test.each(["999999", "abc", "0", "-1", "1.5", "99999999999999999999"])("%s is 404 Payment not found", async (id) => {
    const res = await fetch(`${app.url}/payments/${id}`, { headers: merchantHeaders() });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: "Payment not found" });
  });

  test("the typed client gets NOT_FOUND", async () => {
    const client = createPaymentClient({ url: app.url, apiKey: TEST_API_KEY });
    const err = await client.payments.get.query({ id: 424242 }).catch((e) => e);
    expect(err.message).toBe("Payment not found");
    expect(err.data.code).toBe("NOT_FOUND");
  });
});

describe("GET /payments filters", () => {
  test.each([
    ["status=done", "Invalid status"],
    ["limit=0", "Invalid limit"],
    ["limit=101", "Invalid limit"],
    ["limit=abc", "Invalid limit"],
    ["limit=1.5", "Invalid limit"],
    ["cursor=%%%", "Invalid cursor"],
    ["cursor=bm90LWEtY3Vyc29y", "Invalid cursor"],
    ["status=paid&status=pending", "Invalid status"],
    ["sort=asc", "Unknown query parameter: sort"],
  ])("?%s → 400 %s", async (query, message) => {
    const res = await fetch(`${app.url}/payments?${query}`, { headers: merchantHeaders() });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).message).toBe(message);
  });

  test("empty filters mean no filter", async () => {
    const res = await fetch(`${app.url}/payments?status=&limit=&cursor=`, { headers: merchantHeaders() });
    expect(res.status).toBe(200);
  });
});

describe("POST /payments/pix/confirmation errors", () => {
  test("unknown payment → 404 Payment not found", async () => {
    const res = await restConfirm(app.url, { bank_payment_id: crypto.randomUUID(), value: 10 });
    expect(res).toEqual({ status: 404, body: { message: "Payment not found" } });
  });

  test("a value different from the payment's → 400 Invalid payment data, and it stays pending", async () => {
    const p = (await restCreate(app.url, 10)).body.payment;
    const res = await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 10.01 });
    expect(res).toEqual({ status: 400, body: { message: "Invalid payment data" } });
    expect((await app.service.get(p.id)).status).toBe("pending");
  });

  test.each([
    ["missing bank_payment_id", { value: 10 }],
    ["missing value", { bank_payment_id: "x" }],
    ["value as a string", { bank_payment_id: "x", value: "10" }],
    ["bank_payment_id as a number", { bank_payment_id: 1, value: 10 }],
    ["three decimals", { bank_payment_id: "x", value: 1.001 }],
    ["an unknown field", { bank_payment_id: "x", value: 10, extra: true }],
  ])("%s → 400 Invalid payment data", async (_label, payload) => {
    const res = await restConfirm(app.url, payload);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe("Invalid payment data");
  });

  test("signed invalid JSON → 400 Invalid payment data", async () => {
    const body = "{not json";
    const res = await postRaw("/payments/pix/confirmation", body, signWebhook(body));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).message).toBe("Invalid payment data");
  });

  test("an expired payment → 409 Payment expired, and it stays unpaid", async () => {
    const p = (await restCreate(app.url, 10)).body.payment;
    app.clock.advance(30 * 60 * 1000);
    try {
      const res = await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 10 });
      expect(res).toEqual({ status: 409, body: { message: "Payment expired" } });
      expect((await app.service.get(p.id)).status).toBe("expired");
    } finally {
      app.clock.advance(-30 * 60 * 1000);
    }
  });
});
