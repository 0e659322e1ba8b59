import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentClient } from "../client/index.ts";
import {
  merchantHeaders,
  OTHER_API_KEY,
  restConfirm,
  restCreate,
  signWebhook,
  spawnServer,
  startTestApp,
  TEST_API_KEY,
  TEST_WEBHOOK_SECRET,
  type TestApp,
} from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

describe("merchant routes need an API key", () => {
  const routes: Array<[string, string, string?]> = [
    ["POST", "/payments", '{"value":10}'],
    ["POST", "/payments/pix", '{"value":10}'],
    ["GET", "/payments/1"],
    ["GET", "/payments"],
  ];
  const badAuth: Array<[string, Record<string, string>]> = [
    ["no Authorization header", {}],
    ["a wrong key", { authorization: "Bearer sk_test_not_a_real_key_000000" }],
    ["a key without Bearer", { authorization: TEST_API_KEY }],
    ["Basic auth", { authorization: `Basic ${btoa(`${TEST_API_KEY}:`)}` }],
    ["a key with a suffix", { authorization: `Bearer ${TEST_API_KEY}x` }],
    ["the webhook secret as a key", { authorization: `Bearer ${TEST_WEBHOOK_SECRET}` }],
  ];
  for (const [method, path, body] of routes) {
    for (const [label, headers] of badAuth) {
      test(`${method} ${path} with ${label} → 401 Unauthorized`, async () => {
        const res = await fetch(`${app.url}${path}`, {
          method,
          headers: { "content-type": "application/json", ...headers },
          body,
        });
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual({ message: "Unauthorized" });
      });
    }
  }

  test("auth is checked before input: a bad body without a key is 401, not 400", async () => {
    const res = await fetch(`${app.url}/payments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(res.status).toBe(401);
  });

  test("tRPC procedures need the key too", async () => {
    const client = createPaymentClient({ url: app.url, apiKey: "sk_test_wrong_key_0000000000" });
    const err = await client.payments.create.mutate({ value: 10 }).catch((e) => e);
    expect(err.data.httpStatus).toBe(401);
    expect(err.message).toBe("Unauthorized");
  });

  test("every configured key works", async () => {
    expect((await restCreate(app.url, 1, merchantHeaders(OTHER_API_KEY))).status).toBe(200);
  });
});

describe("the webhook is signature-checked", () => {
  const payload = async () => {
    const p = (await restCreate(app.url, 10)).body.payment;
    return { p, body: JSON.stringify({ bank_payment_id: p.bank_payment_id, value: 10 }) };
  };
  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${app.url}/payments/pix/confirmation`, { method: "POST", headers, body });

  test("no signature headers → 401 Invalid signature", async () => {
    const { p, body } = await payload();
    const res = await post(body, { "content-type": "application/json" });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: "Invalid signature" });
    expect((await app.service.get(p.id)).status).toBe("pending");
  });

  test("signed with another secret → 401", async () => {
    const { p, body } = await payload();
    const other = `whsec_${Buffer.from("another-secret-of-enough-length!").toString("base64")}`;
    expect((await post(body, signWebhook(body, { secret: other }))).status).toBe(401);
    expect((await app.service.get(p.id)).status).toBe("pending");
  });

  test("a body changed after signing → 401", async () => {
    const { p, body } = await payload();
    const headers = signWebhook(body);
    expect((await post(body.replace('"value":10', '"value":10.0'), headers)).status).toBe(401);
    expect((await app.service.get(p.id)).status).toBe("pending");
  });

  test("a timestamp older than 5 minutes → 401", async () => {
    const { p, body } = await payload();
    expect((await post(body, signWebhook(body, { at: new Date(Date.now() - 6 * 60 * 1000) }))).status).toBe(401);
    expect((await app.service.get(p.id)).status).toBe("pending");
  });

  test("a timestamp more than 5 minutes ahead → 401", async () => {
    const { body } = await payload();
    expect((await post(body, signWebhook(body, { at: new Date(Date.now() + 6 * 60 * 1000) }))).status).toBe(401);
  });

  test("a timestamp 4 minutes old is still accepted", async () => {
    const { p, body } = await payload();
    expect((await post(body, signWebhook(body, { at: new Date(Date.now() - 4 * 60 * 1000) }))).status).toBe(200);
    expect((await app.service.get(p.id)).status).toBe("paid");
  });

  test("the signature is checked before the body: bad JSON unsigned is 401", async () => {
    expect((await post("{", { "content-type": "application/json" })).status).toBe(401);
  });

  test("a replayed webhook-id is not applied twice", async () => {
    const { p, body } = await payload();
    const headers = signWebhook(body, { id: "msg_replay_1" });
    expect((await post(body, headers)).status).toBe(200);
    const events = async () =>
      (await app.query("SELECT COUNT(*) AS n FROM payment_events WHERE payment_id = ? AND type = 'paid'", p.id))[0];
    expect(await events()).toEqual({ n: 1 });
    const replay = await post(body, headers);
    expect(replay.status).toBe(200);
    expect(await events()).toEqual({ n: 1 });
  });

  test("a webhook-id already used cannot confirm another payment", async () => {
    const first = await payload();
    const second = await payload();
    expect((await post(first.body, signWebhook(first.body, { id: "msg_reuse_1" }))).status).toBe(200);
    const res = await post(second.body, signWebhook(second.body, { id: "msg_reuse_1" }));
    expect(res.status).toBe(409);
    expect((await app.service.get(second.p.id)).status).toBe("pending");
  });

  test("confirming over tRPC needs the signature too", async () => {
    const { p, body } = await payload();
    const unsigned = await fetch(`${app.url}/trpc/payments.confirm`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(unsigned.status).toBe(401);
    const signed = await fetch(`${app.url}/trpc/payments.confirm`, {
      method: "POST",
      headers: signWebhook(body),
      body,
    });
    expect(signed.status).toBe(200);
    expect((await app.service.get(p.id)).status).toBe("paid");
  });
});

describe("errors and logs leak nothing", () => {
  test("an unexpected failure is a generic 500 with no stack trace, REST and tRPC", async () => {
    const broken = startTestApp();
    // every payment query now fails inside the database
    for (const table of [
      "refund_outbox",
      "refund_idempotency_keys",
      "refunds",
      "received_pix",
      "idempotency_keys",
      "webhook_deliveries",
      "payment_events",
      "payments",
    ]) {
      await broken.query(`DROP TABLE ${table}`);
    }
    try {
      const rest = await fetch(`${broken.url}/payments/1`, { headers: merchantHeaders() });
      expect(rest.status).toBe(500);
      expect(await rest.json()).toEqual({ message: "Internal server error" });
      const trpc = await fetch(`${broken.url}/trpc/payments.get?input=${encodeURIComponent('{"id":1}')}`, {
        headers: merchantHeaders(),
      });
      expect(trpc.status).toBe(500);
      const text = await trpc.text();
      expect(JSON.parse(text).error.message).toBe("Internal server error");
      expect(text).not.toContain("stack");
      expect(text).not.toMatch(/\.ts:\d+/);
    } finally {
      await broken.stop().catch(() => {});
    }
  });

  test("request logs are JSON lines with method, route, status, duration and request id, and no secret", async () => {
    const server = await spawnServer({ LOG_LEVEL: "info" });
    try {
      const created = await restCreate(server.url, 10);
      expect(created.status).toBe(200);
      await restConfirm(server.url, { bank_payment_id: created.body.payment.bank_payment_id, value: 10 });
      await fetch(`${server.url}/payments`, { headers: { authorization: "Bearer sk_wrong_key_but_secret_too" } });
      await fetch(`${server.url}/payments/1`, { headers: { ...merchantHeaders(), "x-request-id": "req-abc-123" } });
      await Bun.sleep(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const out = server.output();
    for (const secret of [TEST_API_KEY, OTHER_API_KEY, TEST_WEBHOOK_SECRET, "sk_wrong_key_but_secret_too", "whsec_"]) {
      expect(out).not.toContain(secret);
    }
    const lines = out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(4);
    for (const r of requests) {
      expect(r).toMatchObject({ method: expect.any(String), route: expect.any(String), status: expect.any(Number) });
      expect(typeof r.duration_ms).toBe("number");
      expect(typeof r.request_id).toBe("string");
    }
    expect(requests.find((r) => r.request_id === "req-abc-123")).toMatchObject({
      route: "/payments/{id}",
      status: 200,
    });
    // The process's own domain-event lines, between the request lines.
    const events = lines.filter((l) => typeof l.event === "string").map((l) => [l.msg, l.event, l.payment_id]);
    expect(events).toEqual([
      ["payment created", "payment.created", 1],
      ["payment paid", "payment.paid", 1],
    ]);
  });
});
