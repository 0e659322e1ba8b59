import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentClient } from "../client/index.ts";
import {
  merchantHeaders,
  OTHER_API_KEY,
  restCreate,
  spawnServer,
  startTestApp,
  TEST_API_KEY,
  type TestApp,
  tempDir,
} from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

const count = async () => Number((await app.query("SELECT COUNT(*) AS n FROM payments"))[0]!.n);
const withKey = (key: string, apiKey = TEST_API_KEY) => merchantHeaders(apiKey, { "idempotency-key": key });

describe("Idempotency-Key on POST /payments", () => {
  test("the same key and body returns the first response and creates nothing", async () => {
    const first = await restCreate(app.url, 10, withKey("order-1"));
    const before = await count();
    const second = await restCreate(app.url, 10, withKey("order-1"));
    expect(second).toEqual(first);
    expect(await count()).toBe(before);
  });

  test("254.3 and 254.30 are the same body", async () => {
    const first = await restCreate(app.url, 254.3, withKey("order-2"));
    const res = await fetch(`${app.url}/payments`, {
      method: "POST",
      headers: withKey("order-2"),
      body: '{"value":254.30}',
    });
    expect(((await res.json()) as any).payment.id).toBe(first.body.payment.id);
  });

  test("the same key with a different body → 422, nothing created", async () => {
    await restCreate(app.url, 10, withKey("order-3"));
    const before = await count();
    const res = await restCreate(app.url, 11, withKey("order-3"));
    expect(res).toEqual({ status: 422, body: { message: "Idempotency key reused with different parameters" } });
    expect(await count()).toBe(before);
  });

  test("keys are per merchant: another API key with the same key creates its own payment", async () => {
    const mine = await restCreate(app.url, 10, withKey("order-4"));
    const theirs = await restCreate(app.url, 10, withKey("order-4", OTHER_API_KEY));
    expect(theirs.status).toBe(200);
    expect(theirs.body.payment.id).not.toBe(mine.body.payment.id);
  });

  test("without a key every call creates", async () => {
    const before = await count();
    await restCreate(app.url, 10);
    await restCreate(app.url, 10);
    expect(await count()).toBe(before + 2);
  });

  test("a refused body does not burn the key", async () => {
    expect((await restCreate(app.url, -1, withKey("order-5"))).status).toBe(400);
    expect((await restCreate(app.url, 5, withKey("order-5"))).status).toBe(200);
  });

  test.each([["x".repeat(256)], ["has space"], ["tab\tinside"]])("an invalid key (%#) → 400", async (key) => {
    const res = await fetch(`${app.url}/payments`, {
      method: "POST",
      headers: { ...merchantHeaders(), "idempotency-key": key },
      body: '{"value":1}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).message).toMatch(/Idempotency-Key/);
  });

  test("255 characters is the longest key accepted", async () => {
    expect((await restCreate(app.url, 1, withKey("k".repeat(255)))).status).toBe(200);
  });

  test("the typed client sends the key as a header and gets the first payment back", async () => {
    const client = createPaymentClient({
      url: app.url,
      apiKey: TEST_API_KEY,
      headers: () => ({ "idempotency-key": "order-6" }),
    });
    const a = await client.payments.create.mutate({ value: 3 });
    const b = await client.payments.create.mutate({ value: 3 });
    expect(b.payment.id).toBe(a.payment.id);
  });

  test("keys older than the retention period are pruned; younger ones are kept", async () => {
    await restCreate(app.url, 1, withKey("order-old"));
    app.clock.advance(24 * 60 * 60 * 1000);
    await app.service.prune();
    const kept = await restCreate(app.url, 1, withKey("order-old"));
    expect(kept.status).toBe(200);
    app.clock.advance(25 * 60 * 60 * 1000);
    await app.service.prune();
    const [rows] = await app.query("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = 'order-old'");
    expect(rows).toEqual({ n: 0 });
  });
});

describe("Idempotency across instances", () => {
  test("the same key sent to two processes at once creates one payment", async () => {
    const tmp = tempDir();
    const env = { DATABASE_URL: `${tmp.dir}/shared.sqlite` };
    const a = await spawnServer(env);
    const b = await spawnServer(env);
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => restCreate(i % 2 ? a.url : b.url, 42, withKey("order-race"))),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(new Set(results.map((r) => r.body.payment.id)).size).toBe(1);
    } finally {
      await a.stop();
      await b.stop();
      tmp.cleanup();
    }
  });
});
