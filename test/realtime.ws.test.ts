import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openSocket, restConfirm, restCreate, type SocketProbe, wsUrl } from "./harness.ts";
import { startTwoInstances } from "./redis.ts";

let cluster: Awaited<ReturnType<typeof startTwoInstances>>;
const sockets: SocketProbe[] = [];
const open = async (url: string) => {
  const s = await openSocket(url);
  sockets.push(s);
  return s;
};
const isPayment = (status: string) => (m: any) => m.type === "payment" && m.payment.status === status;

beforeAll(async () => {
  cluster = await startTwoInstances();
}, 30_000);
afterAll(async () => {
  for (const s of sockets) s.close();
  await cluster?.stop();
}, 30_000);

describe("GET /ws across two instances", () => {
  test("subscribing sends the current state at once, the same object REST returns", async () => {
    const { payment } = (await restCreate(cluster.a.url, 12.34)).body;
    const s = await open(wsUrl(cluster.b.url, "/ws"));
    s.send({ type: "subscribe", bank_payment_id: payment.bank_payment_id });
    const snapshot = await s.next();
    expect(snapshot.type).toBe("payment");
    // Links are built on each instance's own public URL; everything else is the same object, but for the
    // merchant's metadata, which a payer's channel never carries.
    const { qr_code: _q, checkout_url: _c, metadata: _m, ...rest } = payment;
    expect(snapshot.payment).toMatchObject({ ...rest, status: "pending", paid: false });
    expect(snapshot.payment).not.toHaveProperty("metadata");
  }, 30_000);

  test("/ws?bank_payment_id= subscribes on connect", async () => {
    const { payment } = (await restCreate(cluster.a.url, 5)).body;
    const s = await open(wsUrl(cluster.a.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    expect((await s.next()).payment).toMatchObject({ id: payment.id, status: "pending" });
  }, 30_000);

  test("a watcher on B hears a confirmation made on A, once", async () => {
    const { payment } = (await restCreate(cluster.a.url, 25)).body;
    const onB = await open(wsUrl(cluster.b.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    const onA = await open(wsUrl(cluster.a.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    await onB.next(isPayment("pending"));
    await onA.next(isPayment("pending"));
    expect((await restConfirm(cluster.a.url, { bank_payment_id: payment.bank_payment_id, value: 25 })).status).toBe(
      200,
    );
    const paidOnB = await onB.next(isPayment("paid"));
    expect(paidOnB.payment).toMatchObject({ id: payment.id, paid: true, status: "paid" });
    expect(paidOnB.payment.paid_at).toBeString();
    await onA.next(isPayment("paid"));
    // A repeat confirmation changes nothing and announces nothing.
    await restConfirm(cluster.b.url, { bank_payment_id: payment.bank_payment_id, value: 25 });
    await Bun.sleep(200);
    expect(onB.messages.filter(isPayment("paid"))).toHaveLength(1);
    expect(onA.messages.filter(isPayment("paid"))).toHaveLength(1);
  }, 30_000);

  test("a late subscriber sees paid at once", async () => {
    const { payment } = (await restCreate(cluster.b.url, 3.5)).body;
    await restConfirm(cluster.b.url, { bank_payment_id: payment.bank_payment_id, value: 3.5 });
    const s = await open(wsUrl(cluster.a.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    const first = await s.next();
    expect(first.payment).toMatchObject({ id: payment.id, status: "paid", paid: true });
  }, 30_000);

  test("many parallel confirmations on both instances: exactly one paid message per watcher", async () => {
    const { payment } = (await restCreate(cluster.a.url, 99.99)).body;
    const watchers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        open(wsUrl(i % 2 ? cluster.a.url : cluster.b.url, `/ws?bank_payment_id=${payment.bank_payment_id}`)),
      ),
    );
    await Promise.all(watchers.map((w) => w.next(isPayment("pending"))));
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        restConfirm(i % 2 ? cluster.a.url : cluster.b.url, { bank_payment_id: payment.bank_payment_id, value: 99.99 }),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    await Promise.all(watchers.map((w) => w.next(isPayment("paid"))));
    await Bun.sleep(300); // a duplicate would arrive within a few ms
    for (const w of watchers) expect(w.messages.filter(isPayment("paid"))).toHaveLength(1);
  }, 30_000);
});

describe("GET /ws protocol errors keep the socket open", () => {
  test("malformed JSON, unknown types, invalid and unknown ids, binary frames", async () => {
    const s = await open(wsUrl(cluster.a.url, "/ws"));
    const expectError = async (frame: string | Uint8Array<ArrayBuffer>, message: RegExp) => {
      s.ws.send(frame);
      const reply = await s.next();
      expect(reply.type).toBe("error");
      expect(reply.message).toMatch(message);
    };
    await expectError("{not json", /Malformed JSON/);
    await expectError(JSON.stringify({ type: "dance" }), /Unknown message type: dance/);
    await expectError(JSON.stringify({ bank_payment_id: "x" }), /Missing message type/);
    await expectError("[1,2]", /Missing message type/);
    await expectError(JSON.stringify({ type: "subscribe", bank_payment_id: "not-a-uuid" }), /Invalid bank_payment_id/);
    await expectError(JSON.stringify({ type: "subscribe", bank_payment_id: 42 }), /Invalid bank_payment_id/);
    await expectError(JSON.stringify({ type: "subscribe", bank_payment_id: crypto.randomUUID() }), /Payment not found/);
    await expectError(new Uint8Array([1, 2, 3]), /JSON text frame/);
    // Still open, and still serving.
    const { payment } = (await restCreate(cluster.a.url, 1)).body;
    s.send({ type: "subscribe", bank_payment_id: payment.bank_payment_id });
    expect((await s.next()).payment.id).toBe(payment.id);
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
  }, 30_000);

  test("a frame over 4 KiB closes the socket with 1009", async () => {
    const s = await open(wsUrl(cluster.a.url, "/ws"));
    s.send(JSON.stringify({ type: "subscribe", bank_payment_id: "x".repeat(5000) }));
    expect((await s.closed).code).toBe(1009);
  }, 30_000);

  test("at most 20 subscriptions per socket; unsubscribing frees a slot", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 21; i++) ids.push((await restCreate(cluster.a.url, i + 1)).body.payment.bank_payment_id);
    const s = await open(wsUrl(cluster.b.url, "/ws"));
    for (const id of ids.slice(0, 20)) {
      s.send({ type: "subscribe", bank_payment_id: id });
      expect((await s.next()).type).toBe("payment");
    }
    s.send({ type: "subscribe", bank_payment_id: ids[20] });
    expect(await s.next()).toEqual({ type: "error", message: "Too many subscriptions: at most 20 per connection" });
    // Subscribing again to a watched payment re-sends its state and takes no new slot.
    s.send({ type: "subscribe", bank_payment_id: ids[0] });
    expect((await s.next()).type).toBe("payment");
    s.send({ type: "unsubscribe", bank_payment_id: ids[0] });
    s.send({ type: "subscribe", bank_payment_id: ids[20] });
    expect((await s.next()).payment.bank_payment_id).toBe(ids[20]);
    // The unsubscribed payment's changes no longer reach this socket.
    await restConfirm(cluster.a.url, { bank_payment_id: ids[0], value: 1 });
    await restConfirm(cluster.a.url, { bank_payment_id: ids[20], value: 21 });
    expect((await s.next(isPayment("paid"))).payment.bank_payment_id).toBe(ids[20]);
    expect(s.messages.filter((m) => m.payment?.bank_payment_id === ids[0] && m.payment.status === "paid")).toHaveLength(
      0,
    );
  }, 30_000);

  test("a plain GET /ws is told to upgrade", async () => {
    const res = await fetch(`${cluster.a.url}/ws`);
    expect(res.status).toBe(426);
    expect(await res.json()).toEqual({ message: "Expected a WebSocket upgrade" });
  }, 30_000);
});

describe("GET /metrics", () => {
  test("Prometheus text with requests, sockets, bus and payments by status", async () => {
    const s = await open(wsUrl(cluster.b.url, "/ws"));
    s.send({ type: "subscribe", bank_payment_id: (await restCreate(cluster.a.url, 2)).body.payment.bank_payment_id });
    await s.next();
    const res = await fetch(`${cluster.b.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/ws",status="101"\} \d+/m);
    expect(text).toMatch(/^http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/ws",status="101"\}/m);
    expect(text).toMatch(/^websocket_connections\{path="\/ws"\} [1-9]\d*/m);
    expect(text).toMatch(/^websocket_subscriptions [1-9]\d*/m);
    expect(text).toMatch(/^bus_connected 1$/m);
    expect(text).toMatch(/^bus_events_received_total [1-9]\d*/m);
    expect(text).toMatch(/^payments\{status="paid"\} [1-9]\d*/m);
    expect(text).toMatch(/^payments\{status="pending"\} [1-9]\d*/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    const onA = await (await fetch(`${cluster.a.url}/metrics`)).text();
    expect(onA).toMatch(/^bus_events_published_total [1-9]\d*/m);
  }, 30_000);
});
