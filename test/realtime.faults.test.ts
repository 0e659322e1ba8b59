import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPaymentWatchClient, type PaymentWatchClient } from "../client/index.ts";
import { openSocket, restConfirm, restCreate, type SocketProbe, spawnServer, waitUntil, wsUrl } from "./harness.ts";
import { startTwoInstances } from "./redis.ts";

let cluster: Awaited<ReturnType<typeof startTwoInstances>>;
const sockets: SocketProbe[] = [];
const clients: PaymentWatchClient[] = [];
beforeAll(async () => {
  cluster = await startTwoInstances();
}, 30_000);
afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
}, 30_000);

const readyz = async (url: string) => (await fetch(`${url}/readyz`)).status;
const isPaid = (m: any) => m.payment?.status === "paid";

test("Redis dies: payments still work, /readyz says 503; Redis returns: the missed change reaches every watcher", async () => {
  const { a, b, redis } = cluster;
  const before = (await restCreate(a.url, 50)).body.payment;
  const onB = await openSocket(wsUrl(b.url, `/ws?bank_payment_id=${before.bank_payment_id}`));
  const onA = await openSocket(wsUrl(a.url, `/ws?bank_payment_id=${before.bank_payment_id}`));
  sockets.push(onA, onB);
  const trpcEvents: Record<string, any[]> = { sse: [], ws: [] };
  for (const transport of ["sse", "ws"] as const) {
    const client = createPaymentWatchClient({ url: b.url, transport });
    clients.push(client);
    client.payments.watch.subscribe(
      { bank_payment_id: before.bank_payment_id },
      { onData: (e) => trpcEvents[transport]!.push(e.data) },
    );
  }
  await onA.next();
  await onB.next();
  await waitUntil(() => trpcEvents.sse!.length === 1 && trpcEvents.ws!.length === 1, 5000, "tRPC snapshots");

  await redis.kill();
  const downAt = Date.now();
  await waitUntil(
    async () => (await readyz(a.url)) === 503 && (await readyz(b.url)) === 503,
    5000,
    "/readyz 503 on both",
  );
  expect(Date.now() - downAt).toBeLessThan(5000);
  expect(await (await fetch(`${a.url}/readyz`)).json()).toMatchObject({
    status: "unavailable",
    database: true,
    bus: false,
  });

  // Creates and confirmations keep working without Redis; the watcher on the same instance is told at once.
  const during = await restCreate(a.url, 60);
  expect(during.status).toBe(200);
  expect((await restConfirm(a.url, { bank_payment_id: before.bank_payment_id, value: 50 })).status).toBe(200);
  expect((await onA.next(isPaid, 2000)).payment.id).toBe(before.id);
  await Bun.sleep(300);
  expect(onB.messages.some(isPaid)).toBe(false); // B cannot know yet

  await redis.restart();
  const upAt = Date.now();
  const paidOnB = await onB.next(isPaid, 10_000);
  expect(paidOnB.payment).toMatchObject({ id: before.id, paid: true });
  await waitUntil(
    () => trpcEvents.sse!.some(isPaidPayment) && trpcEvents.ws!.some(isPaidPayment),
    10_000,
    "tRPC watchers told",
  );
  expect(Date.now() - upAt).toBeLessThan(10_000);
  await waitUntil(
    async () => (await readyz(a.url)) === 200 && (await readyz(b.url)) === 200,
    10_000,
    "/readyz 200 again",
  );

  // Exactly once each, and the bus carries news across instances again.
  await Bun.sleep(300);
  expect(onA.messages.filter(isPaid)).toHaveLength(1);
  expect(onB.messages.filter(isPaid)).toHaveLength(1);
  expect(trpcEvents.sse!.filter(isPaidPayment)).toHaveLength(1);
  expect(trpcEvents.ws!.filter(isPaidPayment)).toHaveLength(1);
  const after = during.body.payment;
  const late = await openSocket(wsUrl(b.url, `/ws?bank_payment_id=${after.bank_payment_id}`));
  sockets.push(late);
  await late.next();
  expect((await restConfirm(a.url, { bank_payment_id: after.bank_payment_id, value: 60 })).status).toBe(200);
  expect((await late.next(isPaid, 5000)).payment.id).toBe(after.id);

  // Nothing crashed and no rejection went unhandled.
  expect(a.proc.exitCode).toBeNull();
  expect(b.proc.exitCode).toBeNull();
  for (const out of [a.output(), b.output()]) expect(out).not.toMatch(/unhandled|Uncaught/i);
}, 40_000);

const isPaidPayment = (p: any) => p.status === "paid";

test("a change made during the outage by an instance that then died still reaches watchers (re-read on reconnect)", async () => {
  const { b, redis } = cluster;
  const c = await spawnServer({ REDIS_URL: redis.url, DATABASE_URL: cluster.databaseFile });
  try {
    const { payment } = (await restCreate(c.url, 8)).body;
    const onB = await openSocket(wsUrl(b.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    sockets.push(onB);
    await onB.next();
    await redis.kill();
    await waitUntil(async () => (await readyz(c.url)) === 503, 5000, "C sees Redis down");
    expect((await restConfirm(c.url, { bank_payment_id: payment.bank_payment_id, value: 8 })).status).toBe(200);
    // C dies with its unsent news: only B's re-read from the database can tell B's watcher.
    await c.stop("SIGKILL");
    await redis.restart();
    expect((await onB.next(isPaid, 10_000)).payment.id).toBe(payment.id);
  } finally {
    await c.stop("SIGKILL");
  }
}, 30_000);
