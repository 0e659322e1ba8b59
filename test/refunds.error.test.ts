/**
 * What a refund request cannot do (CONTRACT §11): refund an unknown or unpaid payment, exceed what is left,
 * come after the 90-day window, refund a payment without an endToEndId through a real PSP, or be made at all
 * in production without PSP_API_URL.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  createPaidPayment,
  manualClock,
  merchantHeaders,
  restConfirm,
  restCreate,
  restGet,
  restRefund,
  startTestApp,
} from "./harness.ts";
import { paidThroughPsp, startAppWithPsp } from "./psp.ts";

const clock = manualClock();
const env = startAppWithPsp({ clock });
const { app, psp } = env;
afterAll(() => env.stop());

describe("POST /payments/{id}/refunds refusals", () => {
  test("an unknown payment is 404, also for an id that is not a positive integer", async () => {
    expect(await restRefund(app.url, 999_999, { value: 1 })).toEqual({
      status: 404,
      body: { message: "Payment not found" },
    });
    const res = await fetch(`${app.url}/payments/abc/refunds`, {
      method: "POST",
      headers: merchantHeaders(),
      body: "{}",
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 404,
      body: { message: "Payment not found" },
    });
    expect(await restGet(app.url, "/payments/999999/refunds")).toEqual({
      status: 404,
      body: { message: "Payment not found" },
    });
  });

  test("a payment that is not paid (pending, or expired) is 409 Payment not paid", async () => {
    const pending = (await restCreate(app.url, 10)).body.payment;
    expect(await restRefund(app.url, pending.id, { value: 1 })).toEqual({
      status: 409,
      body: { message: "Payment not paid" },
    });
    clock.advance(1800_000);
    try {
      expect((await restRefund(app.url, pending.id, { value: 1 })).body.message).toBe("Payment not paid");
    } finally {
      clock.advance(-1800_000);
    }
  });

  test.each([
    ["missing", {}],
    ["zero", { value: 0 }],
    ["negative", { value: -5 }],
    ["three decimals", { value: 1.001 }],
    ["a string", { value: "10.00" }],
    ["null", { value: null }],
    ["above the maximum", { value: 10_000_000_000 }],
    ["an unknown field", { value: 1, currency: "BRL" }],
    ["a payment_id in the body", { value: 1, payment_id: 1 }],
    ["an array body", [{ value: 1 }]],
  ])("a bad value (%s) is 400 Invalid value", async (_name, body) => {
    const { payment } = await paidThroughPsp(app, psp, 10);
    const answer = await restRefund(app.url, payment.id, body);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe("Invalid value");
  });

  test("a reason over 140 characters, empty, or not a string is 400 Invalid reason; malformed JSON 400 Invalid value", async () => {
    const { payment } = await paidThroughPsp(app, psp, 10);
    for (const reason of ["x".repeat(141), "", 5]) {
      expect(await restRefund(app.url, payment.id, { value: 1, reason })).toMatchObject({
        status: 400,
        body: { message: "Invalid reason" },
      });
    }
    expect(await restRefund(app.url, payment.id, "{value:")).toMatchObject({
      status: 400,
      body: { message: "Invalid value", detail: "Body is not valid JSON" },
    });
    expect((await restRefund(app.url, payment.id, { value: 1, reason: "é".repeat(140) })).status).toBe(201);
  });

  test("more than what is left (pending + refunded + this) is 422 Refund exceeds the refundable amount", async () => {
    const { payment } = await paidThroughPsp(app, psp, 100);
    expect((await restRefund(app.url, payment.id, { value: 100.01 })).body).toEqual({
      message: "Refund exceeds the refundable amount",
    });
    expect((await restRefund(app.url, payment.id, { value: 70 })).status).toBe(201); // pending
    expect(await restRefund(app.url, payment.id, { value: 30.01 })).toEqual({
      status: 422,
      body: { message: "Refund exceeds the refundable amount" },
    });
    expect((await restRefund(app.url, payment.id, { value: 30 })).status).toBe(201);
    expect((await restRefund(app.url, payment.id, { value: 0.01 })).status).toBe(422);
    const [row] = await app.query(
      "SELECT refund_reserved_cents AS reserved, refunded_cents AS refunded FROM payments WHERE id = ?",
      payment.id,
    );
    expect(row).toEqual({ reserved: 10_000, refunded: 0 });
  });

  test("more than 90 days after paid_at is 409 Refund window closed; exactly 90 days is still open", async () => {
    const { payment } = await paidThroughPsp(app, psp, 20);
    const ninetyDays = 90 * 24 * 3600_000;
    clock.advance(ninetyDays);
    try {
      expect((await restRefund(app.url, payment.id, { value: 1 })).status).toBe(201);
      clock.advance(1);
      expect(await restRefund(app.url, payment.id, { value: 1 })).toEqual({
        status: 409,
        body: { message: "Refund window closed" },
      });
    } finally {
      clock.advance(-ninetyDays - 1);
    }
  });

  test("with PSP_API_URL, a payment confirmed through §4 has no endToEndId to refund: 409", async () => {
    const payment = (await restCreate(app.url, 15)).body.payment;
    await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 15 });
    expect(await restRefund(app.url, payment.id, { value: 15 })).toEqual({
      status: 409,
      body: { message: "Payment has no end_to_end_id" },
    });
  });

  test("without an API key: 401 Unauthorized, for both routes", async () => {
    const { payment } = await paidThroughPsp(app, psp, 10);
    expect(await restRefund(app.url, payment.id, { value: 1 }, { "content-type": "application/json" })).toEqual({
      status: 401,
      body: { message: "Unauthorized" },
    });
    expect(await restGet(app.url, `/payments/${payment.id}/refunds`, {})).toEqual({
      status: 401,
      body: { message: "Unauthorized" },
    });
  });

  test("an Idempotency-Key that is not 1 to 255 visible characters is 400", async () => {
    const { payment } = await paidThroughPsp(app, psp, 10);
    const answer = await restRefund(
      app.url,
      payment.id,
      { value: 1 },
      merchantHeaders(undefined, { "idempotency-key": "x".repeat(256) }),
    );
    expect(answer).toEqual({
      status: 400,
      body: { message: "Invalid Idempotency-Key: 1 to 255 visible ASCII characters" },
    });
  });
});

describe("production without PSP_API_URL", () => {
  test("refunds answer 503 Refunds are not configured; received Pix still work", async () => {
    const prod = startTestApp({
      env: { NODE_ENV: "production", PUBLIC_URL: "https://pay.example.com", PIX_KEY: "loja@example.com" },
    });
    try {
      const payment = await createPaidPayment(prod.url, 10);
      expect(payment.status).toBe("paid");
      expect(await restRefund(prod.url, payment.id, { value: 1 })).toEqual({
        status: 503,
        body: { message: "Refunds are not configured" },
      });
      expect(await restGet(prod.url, `/payments/${payment.id}/refunds`)).toEqual({
        status: 200,
        body: { refunds: [] },
      });
    } finally {
      await prod.stop();
    }
  });
});
