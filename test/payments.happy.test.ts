import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hasError, parsePix } from "pix-utils";
import { createPaymentClient } from "../client/index.ts";
import { merchantHeaders, restConfirm, restCreate, startTestApp, TEST_API_KEY, type TestApp } from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp({ env: { PUBLIC_URL: "https://pay.example.com" } });
});
afterAll(() => app.stop());

describe("POST /payments", () => {
  test("creates a pending payment in the seed's shape, with absolute links and a valid BR Code", async () => {
    const { status, body } = await restCreate(app.url, 254.3);
    expect(status).toBe(200);
    expect(body.message).toBe("The payment has been created");
    const p = body.payment;
    expect(p).toMatchObject({ value: 254.3, paid: false, status: "pending", paid_at: null });
    expect(p.id).toBeInteger();
    expect(p.bank_payment_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(p.checkout_url).toBe(`https://pay.example.com/pay/${p.bank_payment_id}`);
    expect(p.qr_code).toBe(`https://pay.example.com/pay/${p.bank_payment_id}/qr.png`);
    // the injected clock: 2025-04-08T15:15:25Z, expiring 30 minutes later
    expect(p.created_at).toBe("2025-04-08T15:15:25.000Z");
    expect(p.expiration_date).toBe("Tue, 08 Apr 2025 15:45:25 GMT");
    const pix = parsePix(p.pix_copy_paste);
    expect(hasError(pix)).toBe(false);
    expect((pix as any).transactionAmount).toBe(254.3);
  });

  test("the course app's alias POST /payments/pix creates too", async () => {
    const res = await fetch(`${app.url}/payments/pix`, {
      method: "POST",
      headers: merchantHeaders(),
      body: JSON.stringify({ value: 10 }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).payment.value).toBe(10);
  });
});

describe("GET /payments/{id} and the list", () => {
  test("reads a payment back by id", async () => {
    const created = (await restCreate(app.url, 12.34)).body.payment;
    const res = await fetch(`${app.url}/payments/${created.id}`, { headers: merchantHeaders() });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).payment).toEqual(created);
  });

  test("lists newest first and pages with a cursor until next_cursor is null", async () => {
    const ids: number[] = [];
    for (let i = 1; i <= 5; i++) ids.push((await restCreate(app.url, i)).body.payment.id);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const res = await fetch(`${app.url}/payments?limit=2${q}`, { headers: merchantHeaders() });
      expect(res.status).toBe(200);
      const page = (await res.json()) as any;
      expect(page.payments.length).toBeLessThanOrEqual(2);
      seen.push(...page.payments.map((p: any) => p.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(seen.slice(0, 5)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
  });

  test("filters by status", async () => {
    const p = (await restCreate(app.url, 77.7)).body.payment;
    expect((await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 77.7 })).status).toBe(200);
    const paid = (await (await fetch(`${app.url}/payments?status=paid`, { headers: merchantHeaders() })).json()) as any;
    expect(paid.payments.map((x: any) => x.id)).toContain(p.id);
    expect(paid.payments.every((x: any) => x.status === "paid")).toBe(true);
    const pending = (await (
      await fetch(`${app.url}/payments?status=pending`, { headers: merchantHeaders() })
    ).json()) as any;
    expect(pending.payments.map((x: any) => x.id)).not.toContain(p.id);
  });
});

describe("POST /payments/pix/confirmation", () => {
  test("confirms, and the payment reads back paid", async () => {
    const p = (await restCreate(app.url, 254.3)).body.payment;
    const { status, body } = await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 254.3 });
    expect(status).toBe(200);
    expect(body).toEqual({ message: "The payment has been confirmed" });
    const read = (await (await fetch(`${app.url}/payments/${p.id}`, { headers: merchantHeaders() })).json()) as any;
    expect(read.payment).toMatchObject({ paid: true, status: "paid", paid_at: "2025-04-08T15:15:25.000Z" });
  });

  test("254.30 confirms a payment created as 254.3 (same amount)", async () => {
    const p = (await restCreate(app.url, 254.3)).body.payment;
    const body = `{"bank_payment_id":"${p.bank_payment_id}","value":254.30}`;
    const { signWebhook } = await import("./harness.ts");
    const res = await fetch(`${app.url}/payments/pix/confirmation`, {
      method: "POST",
      headers: signWebhook(body),
      body,
    });
    expect(res.status).toBe(200);
  });

  test("a repeat for a paid payment answers the same and changes nothing", async () => {
    const p = (await restCreate(app.url, 5)).body.payment;
    await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 5 });
    const before = await app.service.get(p.id);
    app.clock.advance(1000);
    const again = await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 5 });
    expect(again).toEqual({ status: 200, body: { message: "The payment has been confirmed" } });
    expect(await app.service.get(p.id)).toEqual(before);
    app.clock.advance(-1000);
  });
});

describe("typed client over tRPC", () => {
  test("create, get, list and the same shapes as REST", async () => {
    const client = createPaymentClient({ url: app.url, apiKey: TEST_API_KEY });
    const created = await client.payments.create.mutate({ value: 99.99 });
    expect(created.message).toBe("The payment has been created");
    expect(created.payment.value).toBe(99.99);
    const got = await client.payments.get.query({ id: created.payment.id });
    expect(got.payment).toEqual(created.payment);
    const rest = (await (
      await fetch(`${app.url}/payments/${created.payment.id}`, { headers: merchantHeaders() })
    ).json()) as any;
    expect(rest.payment).toEqual(got.payment);
    const list = await client.payments.list.query({ limit: 1 });
    expect(list.payments[0]!.id).toBe(created.payment.id);
    expect(typeof list.next_cursor).toBe("string");
  });
});
