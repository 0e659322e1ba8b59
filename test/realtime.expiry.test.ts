import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPaymentWatchClient } from "../client/index.ts";
import { queryDatabase } from "./backend.ts";
import { openSocket, restCreate, type SocketProbe, waitUntil, wsUrl } from "./harness.ts";
import { startTwoInstances } from "./redis.ts";

let cluster: Awaited<ReturnType<typeof startTwoInstances>>;
beforeAll(async () => {
  // Payments expire a second after creation; each instance sweeps every 200 ms.
  cluster = await startTwoInstances({ PAYMENT_TTL_SECONDS: "1", EXPIRY_SWEEP_MS: "200" });
}, 30_000);
afterAll(() => cluster?.stop());

test("expiry is announced once, to watchers on both instances, within 2 s of the expiry time", async () => {
  const { payment } = (await restCreate(cluster.a.url, 10)).body;
  // created_at keeps milliseconds (expiration_date does not): the payment expires 1 s after it.
  const expiresAt = Date.parse(payment.created_at) + 1000;
  expect(new Date(expiresAt).toUTCString()).toBe(payment.expiration_date);
  const sockets: SocketProbe[] = await Promise.all(
    [cluster.a.url, cluster.b.url, cluster.b.url].map((u) =>
      openSocket(wsUrl(u, `/ws?bank_payment_id=${payment.bank_payment_id}`)),
    ),
  );
  const sse = createPaymentWatchClient({ url: cluster.b.url, transport: "sse" });
  const sseEvents: any[] = [];
  const sub = sse.payments.watch.subscribe(
    { bank_payment_id: payment.bank_payment_id },
    { onData: (e) => sseEvents.push(e.data) },
  );
  try {
    for (const s of sockets) expect((await s.next()).payment.status).toBe("pending");
    for (const s of sockets) await s.next((m) => m.payment?.status === "expired", 4000);
    expect(Date.now() - expiresAt).toBeLessThan(2000);
    await waitUntil(() => sseEvents.some((p) => p.status === "expired"), 3000, "expired over SSE");
    await Bun.sleep(600); // three more sweeps on each instance
    for (const s of sockets) expect(s.messages.filter((m) => m.payment?.status === "expired")).toHaveLength(1);
    expect(sseEvents.filter((p) => p.status === "expired")).toHaveLength(1);
    const events = await queryDatabase(
      cluster.databaseFile,
      "SELECT type FROM payment_events WHERE payment_id = ? ORDER BY id",
      payment.id,
    );
    expect(events).toEqual([{ type: "created" }, { type: "expired" }]);
  } finally {
    sub.unsubscribe();
    for (const s of sockets) s.close();
  }
}, 30_000);
