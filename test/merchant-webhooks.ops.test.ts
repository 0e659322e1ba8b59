/**
 * Merchant webhooks in operation (CONTRACT §10, §8), in one process on the run's backend with a manual clock:
 * delivered rows and their events are pruned after WEBHOOK_RETENTION_DAYS, /metrics counts attempts by outcome
 * and shows the queue, and one endpoint gets at most WEBHOOK_ENDPOINT_CONCURRENCY requests at once.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { WEBHOOK_ENDPOINT_CONCURRENCY } from "../src/limits.ts";
import { manualClock, merchantHeaders, restConfirm, restCreate, restGet, startTestApp, waitUntil } from "./harness.ts";
import { type Receiver, startReceiver } from "./webhook-receiver.ts";

const stops: Array<() => unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const DAY = 24 * 60 * 60 * 1000;

function setUp(env: Record<string, string> = {}) {
  const clock = manualClock(Date.now());
  const app = startTestApp({ clock, env });
  stops.push(app.stop);
  return { clock, app };
}

function receiver(answer?: Parameters<typeof startReceiver>[0]): Receiver {
  const r = startReceiver(answer);
  stops.push(r.stop);
  return r;
}

async function register(url: string, body: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${url}/webhook-endpoints`, {
    method: "POST",
    headers: merchantHeaders(),
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as any).endpoint;
}

async function settle(app: { webhooks: { drain(): Promise<void>; idle(): Promise<void> } }) {
  await app.webhooks.drain();
  await app.webhooks.idle();
}

describe("pruning", () => {
  test("a delivered delivery past the retention goes with its event; pending, failed and newer ones stay", async () => {
    const { app, clock } = setUp({ WEBHOOK_RETENTION_DAYS: "1", WEBHOOK_RETRY_SCHEDULE: "0,1,604800" });
    let fail = false;
    const created = receiver(() => new Response("", { status: fail ? 500 : 200 }));
    const paid = receiver(() => new Response("gone", { status: 410 }));
    const onCreated = await register(app.url, { url: created.url, events: ["payment.created"] });
    await register(app.url, { url: paid.url, events: ["payment.paid"] });

    // Old, delivered: p1's payment.created.
    const p1 = (await restCreate(app.url, 1)).body.payment;
    await settle(app);
    // Old, pending: p2's payment.created, failed twice, the next attempt a week away.
    fail = true;
    const p2 = (await restCreate(app.url, 2)).body.payment;
    await settle(app);
    clock.advance(1100);
    await settle(app);
    // Old, failed: p1's payment.paid, answered 410.
    await restConfirm(app.url, { bank_payment_id: p1.bank_payment_id, value: 1 });
    await settle(app);
    expect(created.received).toHaveLength(3);
    expect(paid.received).toHaveLength(1);

    clock.advance(2 * DAY);
    // New, delivered: p3's payment.created.
    fail = false;
    const p3 = (await restCreate(app.url, 3)).body.payment;
    await settle(app);

    const state = async () =>
      (
        await app.query(
          `SELECT ev.type, ev.payload, d.status FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           ORDER BY d.seq`,
        )
      ).map((r) => [r.type, JSON.parse(String(r.payload)).data.payment.id, r.status]);
    expect(await state()).toEqual([
      ["payment.created", p1.id, "delivered"],
      ["payment.created", p2.id, "pending"],
      ["payment.paid", p1.id, "failed"],
      ["payment.created", p3.id, "delivered"],
    ]);
    const events = async () => (await app.query("SELECT count(*) AS n FROM webhook_events"))[0]!.n;
    expect(await events()).toBe(4);

    await app.webhooks.prune();
    expect(await state()).toEqual([
      ["payment.created", p2.id, "pending"],
      ["payment.paid", p1.id, "failed"],
      ["payment.created", p3.id, "delivered"],
    ]);
    // p1's payment.created event is gone with its delivery; none is left without one.
    expect(await events()).toBe(3);
    expect(
      await app.query(
        "SELECT id FROM webhook_events ev WHERE NOT EXISTS (SELECT 1 FROM endpoint_deliveries d WHERE d.event_id = ev.id)",
      ),
    ).toEqual([]);
    const log = (await restGet(app.url, `/webhook-endpoints/${onCreated.id}/deliveries`)).body.deliveries;
    expect(log.map((d: any) => d.status)).toEqual(["delivered", "pending"]);
  });
});

describe("metrics", () => {
  test("/metrics: deliveries by outcome, attempts, queue depth and the age of the oldest due delivery", async () => {
    const { app, clock } = setUp();
    const r = receiver((_req, n) => new Response("", { status: n === 1 ? 200 : 500 }));
    await register(app.url, { url: r.url, events: ["payment.created"] });
    await restCreate(app.url, 1);
    await settle(app); // delivered
    await restCreate(app.url, 2);
    await settle(app); // HTTP 500: retried in 5 s
    expect(r.received).toHaveLength(2);

    const series = async () => {
      const res = await fetch(`${app.url}/metrics`); // open, like /healthz
      expect(res.status).toBe(200);
      return (await res.text()).split("\n").filter((line) => line.startsWith("webhook_"));
    };
    const value = (lines: string[], name: string) => {
      const line = lines.find((l) => l.startsWith(`${name} `));
      if (!line) throw new Error(`no ${name} in ${lines.join("\n")}`);
      return Number(line.slice(name.length + 1));
    };
    let lines = await series();
    expect(value(lines, 'webhook_deliveries_total{outcome="delivered"}')).toBe(1);
    expect(value(lines, 'webhook_deliveries_total{outcome="retry"}')).toBe(1);
    expect(value(lines, "webhook_delivery_attempts_total")).toBe(2);
    expect(value(lines, "webhook_queue_depth")).toBe(1);
    expect(value(lines, "webhook_oldest_due_seconds")).toBe(0); // the retry is not due yet

    clock.advance(15_000); // the retry fell due 9.5 to 10 s ago (5 s, plus up to 10 % jitter)
    lines = await series();
    expect(value(lines, "webhook_queue_depth")).toBe(1);
    const age = value(lines, "webhook_oldest_due_seconds");
    expect(age).toBeGreaterThanOrEqual(9.5);
    expect(age).toBeLessThanOrEqual(10);
  });
});

describe("back-pressure", () => {
  test(`one endpoint gets at most ${WEBHOOK_ENDPOINT_CONCURRENCY} requests at once; all 10 are delivered once it answers`, async () => {
    // The first attempt 1 s after the event (on the manual clock): the test decides when deliveries fall due.
    const { app, clock } = setUp({ WEBHOOK_RETRY_SCHEDULE: "1,1" });
    const held: Array<() => void> = [];
    let holding = true;
    let inFlight = 0;
    let maxInFlight = 0;
    const r = receiver(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      else await Bun.sleep(5);
      inFlight--;
      return new Response("ok");
    });
    stops.push(() => {
      for (const release of held.splice(0)) release();
    });
    const endpoint = await register(app.url, { url: r.url, events: ["payment.created"] });
    // One attempt in flight, then 9 more due at once: one claim must not take 4 more of them.
    expect((await restCreate(app.url, 1)).status).toBe(200);
    clock.advance(1000);
    await waitUntil(
      async () => {
        await app.webhooks.drain();
        return r.received.length >= 1;
      },
      5000,
      "the first request",
    );
    for (let i = 2; i <= 10; i++) expect((await restCreate(app.url, i)).status).toBe(200);
    clock.advance(1000);
    await waitUntil(
      async () => {
        await app.webhooks.drain();
        return r.received.length >= WEBHOOK_ENDPOINT_CONCURRENCY;
      },
      5000,
      "the first requests",
    );
    // More claims while they hang take nothing more for this endpoint.
    for (let i = 0; i < 5; i++) {
      await app.webhooks.drain();
      await Bun.sleep(20);
    }
    expect(r.received).toHaveLength(WEBHOOK_ENDPOINT_CONCURRENCY);
    expect(app.webhooks.inFlight()).toBe(WEBHOOK_ENDPOINT_CONCURRENCY);

    holding = false;
    for (const release of held.splice(0)) release();
    await waitUntil(
      async () => {
        await settle(app);
        return r.received.length >= 10;
      },
      10_000,
      "all 10 delivered",
    );
    await settle(app);
    expect(maxInFlight).toBeLessThanOrEqual(WEBHOOK_ENDPOINT_CONCURRENCY);
    expect(maxInFlight).toBe(WEBHOOK_ENDPOINT_CONCURRENCY);
    const ids = r.received.map((d) => d.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(10);
    const log = (await restGet(app.url, `/webhook-endpoints/${endpoint.id}/deliveries`)).body.deliveries;
    expect(log).toHaveLength(10);
    expect(log.every((d: any) => d.status === "delivered" && d.attempts === 1)).toBe(true);
  });
});
