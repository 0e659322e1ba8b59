import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import { merchantHeaders, restCreate, startTestApp, TEST_WEBHOOK_SECRET, type TestApp } from "./harness.ts";

/** Issue 10's HTTP items: auth before 404, HEAD, content types and webhook timestamps (item 11). */
let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

describe("merchant routes check the key before anything else", () => {
  test.each(["abc", "0", "1.5", "999999"])("GET /payments/%s without a key is 401, not 404", async (id) => {
    const res = await fetch(`${app.url}/payments/${id}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: "Unauthorized" });
  });

  test("with a key, a malformed id is still 404 Payment not found", async () => {
    const res = await fetch(`${app.url}/payments/abc`, { headers: merchantHeaders() });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: "Payment not found" });
  });
});

describe("HEAD on GET routes is served, without a body", () => {
  test("HEAD /payments/{id} and HEAD /payments answer as GET would, headers only", async () => {
    const { payment } = (await restCreate(app.url, 3)).body;
    for (const path of [`/payments/${payment.id}`, "/payments?limit=1"]) {
      const res = await fetch(`${app.url}${path}`, { method: "HEAD", headers: merchantHeaders() });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(await res.text()).toBe("");
    }
  });

  test("HEAD without a key is 401; the Allow header of a wrong method names HEAD", async () => {
    expect((await fetch(`${app.url}/payments/1`, { method: "HEAD" })).status).toBe(401);
    const wrong = await fetch(`${app.url}/payments`, { method: "PUT", headers: merchantHeaders() });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST, GET, HEAD");
  });
});

describe("bodies are JSON in UTF-8 and nothing else", () => {
  const post = (path: string, contentType: string) =>
    fetch(`${app.url}${path}`, {
      method: "POST",
      headers: { ...merchantHeaders(), "content-type": contentType },
      body: '{"value":1}',
    });

  for (const path of ["/payments", "/trpc/payments.create"]) {
    test.each([
      "application/json; charset=utf-16",
      "application/json; charset=iso-8859-1",
      "application/evil+json",
      "application/json-patch+json",
      "application/json; boundary=x",
      "text/json",
    ])(`${path} refuses %s with 415`, async (type) => {
      const res = await post(path, type);
      expect(res.status).toBe(415);
      expect(await res.json()).toEqual({ message: "Content-Type must be application/json" });
    });

    test.each([
      "application/json",
      "application/json; charset=utf-8",
      "Application/JSON;charset=UTF-8",
      'application/json; charset="utf-8"',
    ])(`${path} accepts %s`, async (type) => {
      expect((await post(path, type)).status).toBe(200);
    });
  }
});

describe("webhook-timestamp is whole seconds, as Standard Webhooks writes it", () => {
  const confirm = async (timestampHeader: (seconds: number) => string) => {
    const { payment } = (await restCreate(app.url, 9)).body;
    const body = JSON.stringify({ bank_payment_id: payment.bank_payment_id, value: 9 });
    const at = new Date();
    const id = `msg_${crypto.randomUUID()}`;
    const seconds = Math.floor(at.getTime() / 1000);
    // Signed over the whole seconds: a verifier that reads "<seconds>.999" as <seconds> would accept it.
    const res = await fetch(`${app.url}/payments/pix/confirmation`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": timestampHeader(seconds),
        "webhook-signature": new Webhook(TEST_WEBHOOK_SECRET).sign(id, at, body),
      },
      body,
    });
    return { status: res.status, body: await res.json(), paymentId: payment.id as number };
  };

  test.each([
    ["a fraction", (s: number) => `${s}.999`],
    ["trailing junk", (s: number) => `${s}junk`],
    ["a sign", (s: number) => `+${s}`],
    ["exponent notation", (s: number) => `${s / 1e9}e9`],
  ])("%s is 401 Invalid signature and pays nothing", async (_label, header) => {
    const res = await confirm(header);
    expect({ status: res.status, body: res.body }).toEqual({ status: 401, body: { message: "Invalid signature" } });
    expect((await app.service.get(res.paymentId)).status).toBe("pending");
  });

  test("the same delivery with the integer timestamp is accepted", async () => {
    expect((await confirm((s) => String(s))).status).toBe(200);
  });
});

describe("tRPC batches carry at most 10 calls", () => {
  const batchPath = (n: number, procedure = "payments.create") =>
    `/trpc/${Array.from({ length: n }, () => procedure).join(",")}?batch=1`;
  const bodyOf = (n: number) =>
    JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { value: 1 }])));
  const count = async () => Number((await app.query("SELECT COUNT(*) AS n FROM payments"))[0]!.n);

  test("a batch of 10 creates runs", async () => {
    const before = await count();
    const res = await fetch(`${app.url}${batchPath(10)}`, {
      method: "POST",
      headers: merchantHeaders(),
      body: bodyOf(10),
    });
    expect(res.status).toBe(200);
    expect((await res.json()) as unknown[]).toHaveLength(10);
    expect(await count()).toBe(before + 10);
  });

  test("a batch of 11 is 400 with a message, and runs none of them", async () => {
    const before = await count();
    const res = await fetch(`${app.url}${batchPath(11)}`, {
      method: "POST",
      headers: merchantHeaders(),
      body: bodyOf(11),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ message: "Too many calls in one batch (at most 10)" });
    expect(await count()).toBe(before);
  });

  test("900 keyless calls in one small GET are refused as one 400, before any of them runs", async () => {
    const path = batchPath(900, "payments.get");
    expect(path.length).toBeLessThan(17_000);
    const res = await fetch(`${app.url}${path}&input=%7B%7D`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ message: "Too many calls in one batch (at most 10)" });
  });

  test("the typed client splits 25 calls made at once into batches the server takes", async () => {
    const { createPaymentClient } = await import("../client/index.ts");
    const client = createPaymentClient({ url: app.url, apiKey: merchantHeaders().authorization.slice(7) });
    const created = await Promise.all(Array.from({ length: 25 }, () => client.payments.create.mutate({ value: 2 })));
    expect(new Set(created.map((c) => c.payment.id)).size).toBe(25);
  });
});
