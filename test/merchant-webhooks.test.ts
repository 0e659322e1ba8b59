/**
 * Merchant webhooks (CONTRACT §10) in one process, on the run's backend: a real HTTP receiver on loopback,
 * the app's dispatcher driven with `webhooks.drain()` and a manual clock (started at the real time, so the
 * `standardwebhooks` package accepts the signatures' timestamps).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import { constructWebhookEvent } from "../client/webhooks.ts";
import { DELIVERY_LEASE_MS } from "../src/payments/merchant-webhooks.ts";
import {
  createPaidPayment,
  manualClock,
  merchantHeaders,
  restConfirm,
  restCreate,
  restGet,
  restRefund,
  startTestApp,
  waitUntil,
} from "./harness.ts";
import { type Receiver, startReceiver } from "./webhook-receiver.ts";

const stops: Array<() => unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function setUp(env: Record<string, string> = {}) {
  const clock = manualClock(Date.now());
  const app = startTestApp({ clock, env, simulatedPspSettleMs: 0 });
  stops.push(app.stop);
  const receiver = startReceiver();
  stops.push(receiver.stop);
  return { clock, app, receiver };
}

async function register(
  url: string,
  body: Record<string, unknown>,
): Promise<{ status: number; body: any; endpoint: any; secret: string }> {
  const res = await fetch(`${url}/webhook-endpoints`, {
    method: "POST",
    headers: merchantHeaders(),
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as any;
  return { status: res.status, body: json, endpoint: json.endpoint, secret: json.secret };
}

const deliveriesOf = async (url: string, endpointId: string, query = "") =>
  (await restGet(url, `/webhook-endpoints/${endpointId}/deliveries${query}`)).body as any;

/** Drains until the receiver has `n` requests (attempts run in the background after a claim). */
async function deliver(
  app: { webhooks: { drain(): Promise<void>; idle(): Promise<void> } },
  receiver: Receiver,
  n: number,
) {
  await waitUntil(async () => {
    await app.webhooks.drain();
    await app.webhooks.idle();
    return receiver.received.length >= n;
  }, 10_000);
  return receiver.received;
}

describe("endpoints API", () => {
  test("register: 201 with the endpoint and a whsec_ secret shown once; list and get never show it", async () => {
    const { app, receiver } = setUp();
    const created = await register(app.url, {
      url: receiver.url,
      events: ["payment.paid"],
      description: "Fulfilment",
    });
    expect(created.status).toBe(201);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.endpoint).toEqual({
      id: expect.stringMatching(/^we_[0-9a-f]{32}$/),
      url: receiver.url,
      events: ["payment.paid"],
      description: "Fulfilment",
      enabled: true,
      created_at: new Date(app.clock.now()).toISOString(),
    });
    const list = await restGet(app.url, "/webhook-endpoints");
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ endpoints: [created.endpoint] });
    const one = await restGet(app.url, `/webhook-endpoints/${created.endpoint.id}`);
    expect(one.body).toEqual({ endpoint: created.endpoint });
    const secretPart = created.secret.slice("whsec_".length);
    expect(JSON.stringify(list.body)).not.toContain(secretPart);
    expect(JSON.stringify(one.body)).not.toContain(secretPart);
    // Nor in the database as such: it is sealed.
    const rows = await app.query("SELECT secret FROM webhook_endpoints");
    expect(rows).toHaveLength(1);
    expect(String(rows[0]!.secret)).not.toContain(secretPart);
    expect(String(rows[0]!.secret)).toStartWith("v1.");
  });

  test("bad input: invalid URL, event type or description → 400 with the contract's message; no key → 401", async () => {
    const { app } = setUp();
    for (const [body, message] of [
      [{ url: "ftp://example.com/x" }, "Invalid webhook URL"],
      [{ url: "not a url" }, "Invalid webhook URL"],
      [{ url: 42 }, "Invalid webhook URL"],
      [{}, "Invalid webhook URL"],
      [{ url: "http://127.0.0.1:1/x", events: ["payment.refunded"] }, "Invalid event type"],
      [{ url: "http://127.0.0.1:1/x", events: "payment.paid" }, "Invalid event type"],
      [{ url: "http://127.0.0.1:1/x", description: "" }, "Invalid description"],
    ] as const) {
      const res = await register(app.url, body);
      expect({ body, status: res.status, message: res.body.message }).toEqual({ body, status: 400, message });
    }
    const keyless = await fetch(`${app.url}/webhook-endpoints`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: "http://127.0.0.1:1/x" }),
    });
    expect(keyless.status).toBe(401);
    expect((await fetch(`${app.url}/webhook-endpoints`)).status).toBe(401);
  });

  test("unknown ids: 404 Webhook endpoint not found / Delivery not found; delete is 204, then 404", async () => {
    const { app, receiver } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url });
    const missing = "we_00000000000000000000000000000000";
    for (const [method, path] of [
      ["GET", `/webhook-endpoints/${missing}`],
      ["DELETE", `/webhook-endpoints/${missing}`],
      ["POST", `/webhook-endpoints/${missing}/rotate-secret`],
      ["GET", `/webhook-endpoints/${missing}/deliveries`],
      ["GET", "/webhook-endpoints/%00bad"],
    ] as const) {
      const res = await fetch(`${app.url}${path}`, { method, headers: merchantHeaders() });
      expect({ path, method, status: res.status, body: await res.json() }).toEqual({
        path,
        method,
        status: 404,
        body: { message: "Webhook endpoint not found" },
      });
    }
    const retry = await fetch(
      `${app.url}/webhook-endpoints/${endpoint.id}/deliveries/wd_00000000000000000000000000000000/retry`,
      { method: "POST", headers: merchantHeaders() },
    );
    expect(retry.status).toBe(404);
    expect(await retry.json()).toEqual({ message: "Delivery not found" });
    const del = await fetch(`${app.url}/webhook-endpoints/${endpoint.id}`, {
      method: "DELETE",
      headers: merchantHeaders(),
    });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe("");
    expect((await restGet(app.url, `/webhook-endpoints/${endpoint.id}`)).status).toBe(404);
  });
});

describe("delivery", () => {
  test("payment.created and payment.paid arrive signed (verified by the standardwebhooks package) with §3's payment", async () => {
    const { app, receiver } = setUp();
    const { endpoint, secret } = await register(app.url, { url: receiver.url });
    const created = (await restCreate(app.url, 12.5)).body.payment;
    await restConfirm(app.url, { bank_payment_id: created.bank_payment_id, value: 12.5 });
    const got = await deliver(app, receiver, 2);
    const verifier = new Webhook(secret);
    for (const delivery of got) {
      expect(delivery.headers["content-type"]).toStartWith("application/json");
      expect(delivery.headers["webhook-id"]).toMatch(/^evt_[0-9a-f]{32}$/);
      // Throws unless the signature, the id and the timestamp hold.
      expect(verifier.verify(delivery.body, delivery.headers)).toEqual(delivery.json);
    }
    const byType = Object.fromEntries(got.map((d) => [d.json.type, d.json]));
    expect(Object.keys(byType).sort()).toEqual(["payment.created", "payment.paid"]);
    expect(byType["payment.created"]!.data).toEqual({ payment: created });
    const paid = (await restGet(app.url, `/payments/${created.id}`)).body.payment;
    expect(byType["payment.paid"]!.data).toEqual({ payment: paid });
    expect(byType["payment.paid"]!.timestamp).toBe(paid.paid_at);
    // The log shows both delivered, newest first.
    const log = await deliveriesOf(app.url, endpoint.id);
    expect(log.deliveries.map((d: any) => [d.event_type, d.status, d.attempts, d.last_status_code])).toEqual([
      ["payment.paid", "delivered", 1, 200],
      ["payment.created", "delivered", 1, 200],
    ]);
    expect(log.deliveries[0]).toMatchObject({
      id: expect.stringMatching(/^wd_[0-9a-f]{32}_\d+$/),
      event_id: got.find((d) => d.json.type === "payment.paid")!.headers["webhook-id"],
      last_error: null,
      next_attempt_at: null,
      delivered_at: expect.any(String),
    });
    expect(log.next_cursor).toBeNull();
  });

  test("the event filter: an endpoint for payment.paid gets only that; one with no filter gets all", async () => {
    const { app, receiver } = setUp();
    const all = startReceiver();
    stops.push(all.stop);
    await register(app.url, { url: receiver.url, events: ["payment.paid"] });
    await register(app.url, { url: all.url });
    const payment = await createPaidPayment(app.url, 3, "confirmation");
    await deliver(app, all, 2);
    await deliver(app, receiver, 1);
    expect(receiver.received.map((d) => d.json.type)).toEqual(["payment.paid"]);
    expect(all.received.map((d) => d.json.type).sort()).toEqual(["payment.created", "payment.paid"]);
    expect(receiver.received[0]!.json.data.payment.id).toBe(payment.id);
  });

  test("500, then timeout-free retries on the schedule: the same webhook-id every attempt, then delivered", async () => {
    const { app, receiver, clock } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    receiver.answer = (_req, n) => new Response("no", { status: n <= 2 ? 500 : 200 });
    await restCreate(app.url, 1);
    await deliver(app, receiver, 1);
    let log = await deliveriesOf(app.url, endpoint.id);
    expect(log.deliveries[0]).toMatchObject({ status: "pending", attempts: 1, last_status_code: 500 });
    expect(log.deliveries[0].last_error).toBe("HTTP 500");
    const next = Date.parse(log.deliveries[0].next_attempt_at) - clock.now();
    expect(next).toBeGreaterThanOrEqual(5000); // the schedule's 5 s, plus at most 10 % jitter
    expect(next).toBeLessThanOrEqual(5500);
    await app.webhooks.drain(); // not due yet
    await app.webhooks.idle();
    expect(receiver.received).toHaveLength(1);
    clock.advance(5500);
    await deliver(app, receiver, 2);
    log = await deliveriesOf(app.url, endpoint.id);
    expect(log.deliveries[0]).toMatchObject({ status: "pending", attempts: 2 });
    clock.advance(330_000); // 5 min (+ jitter)
    await deliver(app, receiver, 3);
    log = await deliveriesOf(app.url, endpoint.id);
    expect(log.deliveries[0]).toMatchObject({ status: "delivered", attempts: 3, last_status_code: 200 });
    const ids = new Set(receiver.received.map((d) => d.headers["webhook-id"]));
    expect(ids.size).toBe(1);
  });

  test("the schedule exhausted: failed, and a retry by hand (202) attempts it again at once", async () => {
    const { app, receiver, clock } = setUp({ WEBHOOK_RETRY_SCHEDULE: "0,1,1" });
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    receiver.answer = () => new Response("down", { status: 503 });
    await restCreate(app.url, 1);
    for (let n = 1; n <= 3; n++) {
      await deliver(app, receiver, n);
      clock.advance(1100);
    }
    const failed = (await deliveriesOf(app.url, endpoint.id)).deliveries[0];
    expect(failed).toMatchObject({ status: "failed", attempts: 3, last_status_code: 503, next_attempt_at: null });
    clock.advance(60_000);
    await app.webhooks.drain();
    await app.webhooks.idle();
    expect(receiver.received).toHaveLength(3); // nothing more by itself
    receiver.answer = undefined;
    const retry = await fetch(`${app.url}/webhook-endpoints/${endpoint.id}/deliveries/${failed.id}/retry`, {
      method: "POST",
      headers: merchantHeaders(),
    });
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as any).delivery).toMatchObject({ id: failed.id, status: "pending" });
    await deliver(app, receiver, 4);
    expect((await deliveriesOf(app.url, endpoint.id)).deliveries[0]).toMatchObject({
      status: "delivered",
      attempts: 4,
    });
    expect(receiver.received[3]!.headers["webhook-id"]).toBe(receiver.received[0]!.headers["webhook-id"]);
  });

  test("410 Gone disables the endpoint: enabled false, nothing more is sent to it", async () => {
    const { app, receiver } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    receiver.answer = () => new Response("gone", { status: 410 });
    await restCreate(app.url, 1);
    await deliver(app, receiver, 1);
    expect((await restGet(app.url, `/webhook-endpoints/${endpoint.id}`)).body.endpoint.enabled).toBe(false);
    expect((await deliveriesOf(app.url, endpoint.id)).deliveries[0]).toMatchObject({
      status: "failed",
      last_status_code: 410,
    });
    await restCreate(app.url, 2);
    await app.webhooks.drain();
    await app.webhooks.idle();
    expect(receiver.received).toHaveLength(1);
    expect((await deliveriesOf(app.url, endpoint.id)).deliveries).toHaveLength(1);
  });

  test("an attempt in flight when its endpoint is disabled ends failed, not pending for ever", async () => {
    const { app, receiver, clock } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    receiver.answer = () => new Response("no", { status: 500 });
    await restCreate(app.url, 1);
    await deliver(app, receiver, 1); // failed once: the retry is due in 5 s
    clock.advance(6000);
    // Another instance claims the retry; meanwhile a 410 seen elsewhere disables the endpoint.
    const [id] = await app.repository.write((tx) =>
      tx.claimDeliveries({
        now: clock.now(),
        leaseUntil: clock.now() + DELIVERY_LEASE_MS,
        token: "other-instance",
        limit: 1,
        perEndpoint: 4,
        inFlight: {},
        candidates: 64,
      }),
    );
    await app.repository.write((tx) => tx.disableWebhookEndpoint(endpoint.id, "410 Gone", clock.now()));
    // Its attempt fails (500) and would be retried: it is failed instead, with what happened.
    const recorded = await app.repository.write((tx) =>
      tx.recordDeliveryAttempt({
        id: id!,
        token: "other-instance",
        status: "pending",
        attempts: 2,
        statusCode: 500,
        error: "HTTP 500",
        nextAttemptAt: clock.now() + 300_000,
        at: clock.now(),
      }),
    );
    expect(recorded).toBe(true);
    expect((await deliveriesOf(app.url, endpoint.id)).deliveries[0]).toMatchObject({
      status: "failed",
      attempts: 2,
      last_status_code: 500,
      next_attempt_at: null,
    });
    expect((await app.webhooks.queue()).pending).toBe(0);
  });

  test("Retry-After on 429 is honoured: the next attempt waits as asked", async () => {
    const { app, receiver, clock } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    receiver.answer = () => new Response("slow down", { status: 429, headers: { "retry-after": "120" } });
    await restCreate(app.url, 1);
    await deliver(app, receiver, 1);
    const pending = (await deliveriesOf(app.url, endpoint.id)).deliveries[0];
    expect(Date.parse(pending.next_attempt_at) - clock.now()).toBe(120_000);
  });

  test("rotation: for 24 h every delivery carries both signatures, each verifying; then only the new one", async () => {
    const { app, receiver, clock } = setUp();
    const { endpoint, secret: oldSecret } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    const rotated = await fetch(`${app.url}/webhook-endpoints/${endpoint.id}/rotate-secret`, {
      method: "POST",
      headers: merchantHeaders(),
    });
    expect(rotated.status).toBe(200);
    const { secret: newSecret } = (await rotated.json()) as { secret: string };
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    await restCreate(app.url, 1);
    const [first] = await deliver(app, receiver, 1);
    expect(first!.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(new Webhook(oldSecret).verify(first!.body, first!.headers)).toEqual(first!.json);
    expect(new Webhook(newSecret).verify(first!.body, first!.headers)).toEqual(first!.json);

    clock.advance(24 * 60 * 60 * 1000 + 1000);
    await restCreate(app.url, 2);
    const second = (await deliver(app, receiver, 2))[1]!;
    expect(second.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    // The package checks timestamps against the real clock, which this test moved past; constructWebhookEvent
    // takes the test's clock, so only the signatures decide: the new secret verifies, the old one no longer does.
    const at = { now: () => clock.now() };
    expect(constructWebhookEvent(second.body, second.headers, newSecret, at)).toEqual(second.json as any);
    expect(() => constructWebhookEvent(second.body, second.headers, oldSecret, at)).toThrow("No matching signature");
  });

  test("refund events: refund.created then refund.succeeded, with the refund and the payment", async () => {
    const { app, receiver } = setUp();
    const paidBy = startReceiver();
    stops.push(paidBy.stop);
    await register(app.url, { url: receiver.url, events: ["refund.created", "refund.succeeded"] });
    await register(app.url, { url: paidBy.url, events: ["payment.paid"] });
    // Paid by a received Pix (§11): its payment.paid comes from that path.
    const payment = await createPaidPayment(app.url, 10, "pix");
    expect((await deliver(app, paidBy, 1))[0]!.json.data.payment).toMatchObject({
      id: payment.id,
      status: "paid",
      end_to_end_id: payment.end_to_end_id,
    });
    const refund = (await restRefund(app.url, payment.id, { value: 4 })).body.refund;
    await app.refunds.drain();
    const got = await deliver(app, receiver, 2);
    const byType = Object.fromEntries(got.map((d) => [d.json.type, d.json.data]));
    expect(Object.keys(byType).sort()).toEqual(["refund.created", "refund.succeeded"]);
    expect(byType["refund.created"]!.refund).toEqual(refund);
    expect(Object.keys(byType["refund.created"]!)).toEqual(["refund", "payment"]);
    expect(byType["refund.succeeded"]!.refund).toMatchObject({ id: refund.id, status: "refunded" });
    expect(byType["refund.succeeded"]!.payment).toMatchObject({ id: payment.id, refunded_value: 4 });
  });

  test("a lease left by a dead dispatcher runs out, and the delivery is attempted again (same webhook-id)", async () => {
    const { app, receiver, clock } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    receiver.answer = (_req, n) => new Response(null, { status: n === 1 ? 500 : 200 });
    await restCreate(app.url, 1);
    await deliver(app, receiver, 1); // this instance's first attempt fails: the retry is due in 5 s
    clock.advance(6000);
    // Another dispatcher claims the retry and dies before sending: only its lease remains.
    const claimed = await app.repository.write((tx) =>
      tx.claimDeliveries({
        now: clock.now(),
        leaseUntil: clock.now() + DELIVERY_LEASE_MS,
        token: "dead-instance",
        limit: 10,
        perEndpoint: 10,
        inFlight: {},
        candidates: 64,
      }),
    );
    expect(claimed).toHaveLength(1);
    await app.webhooks.drain();
    await app.webhooks.idle();
    expect(receiver.received).toHaveLength(1); // leased: nobody else takes it
    clock.advance(DELIVERY_LEASE_MS + 1);
    await deliver(app, receiver, 2);
    expect((await deliveriesOf(app.url, endpoint.id)).deliveries[0]).toMatchObject({
      status: "delivered",
      attempts: 2,
    });
    expect(receiver.received[1]!.headers["webhook-id"]).toBe(receiver.received[0]!.headers["webhook-id"]);
  });

  test("the delivery log pages newest first with a cursor", async () => {
    const { app, receiver } = setUp();
    const { endpoint } = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    for (let i = 1; i <= 5; i++) await restCreate(app.url, i);
    const first = await deliveriesOf(app.url, endpoint.id, "?limit=2");
    expect(first.deliveries).toHaveLength(2);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await deliveriesOf(app.url, endpoint.id, `?limit=2&cursor=${first.next_cursor}`);
    const third = await deliveriesOf(app.url, endpoint.id, `?limit=2&cursor=${second.next_cursor}`);
    expect(third.next_cursor).toBeNull();
    const ids = [...first.deliveries, ...second.deliveries, ...third.deliveries].map((d: any) => d.id);
    expect(new Set(ids).size).toBe(5);
    const bad = await restGet(app.url, `/webhook-endpoints/${endpoint.id}/deliveries?limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe("Invalid limit");
    const badCursor = await restGet(app.url, `/webhook-endpoints/${endpoint.id}/deliveries?cursor=zzz`);
    expect(badCursor.body.message).toBe("Invalid cursor");
  });
});

describe("tRPC router webhooks", () => {
  test("create, list, get, rotateSecret, deliveries, retry, delete: the same JSON as REST", async () => {
    const { app, receiver } = setUp();
    const { createPaymentClient } = await import("../client/index.ts");
    const client = createPaymentClient({ url: app.url, apiKey: (await import("./harness.ts")).TEST_API_KEY });
    const created = await client.webhooks.create.mutate({ url: receiver.url, events: ["payment.created"] });
    expect(created.secret).toMatch(/^whsec_/);
    expect((await client.webhooks.list.query()).endpoints).toEqual([created.endpoint]);
    expect((await client.webhooks.get.query({ id: created.endpoint.id })).endpoint).toEqual(created.endpoint);
    const rest = await restGet(app.url, `/webhook-endpoints/${created.endpoint.id}`);
    expect(rest.body.endpoint).toEqual(created.endpoint);
    expect((await client.webhooks.rotateSecret.mutate({ id: created.endpoint.id })).secret).toMatch(/^whsec_/);
    await restCreate(app.url, 1);
    await deliver(app, receiver, 1);
    const log = await client.webhooks.deliveries.query({ id: created.endpoint.id });
    expect(log.deliveries).toHaveLength(1);
    expect((await deliveriesOf(app.url, created.endpoint.id)).deliveries).toEqual(log.deliveries);
    const retried = await client.webhooks.retry.mutate({ id: created.endpoint.id, delivery_id: log.deliveries[0]!.id });
    expect(retried.delivery.status).toBe("pending");
    await client.webhooks.delete.mutate({ id: created.endpoint.id });
    await expect(client.webhooks.get.query({ id: created.endpoint.id })).rejects.toThrow("Webhook endpoint not found");
  });
});
