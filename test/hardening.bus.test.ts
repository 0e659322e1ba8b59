import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "redis";
import { openSocket, restConfirm, restCreate, type SocketProbe, spawnServer, waitUntil, wsUrl } from "./harness.ts";
import { startTwoInstances } from "./redis.ts";

/**
 * Issue 10, item 3: the bus carries news, never truth. Whoever can PUBLISH on the channel (the test's own
 * Redis, here) can make an instance re-read a payment, nothing more: no watcher is told "paid" while the
 * database says pending, and a forged huge event id does not hide the real confirmation. Redis with a
 * password works with REDIS_URL carrying it.
 */
let cluster: Awaited<ReturnType<typeof startTwoInstances>>;
const sockets: SocketProbe[] = [];

beforeAll(async () => {
  cluster = await startTwoInstances({}, { password: "s3cret p@ss/word" });
}, 30_000);
afterAll(async () => {
  for (const s of sockets) s.close();
  await cluster?.stop();
}, 30_000);

const paidStates = (s: SocketProbe) =>
  s.messages.filter((m) => m.payment?.status === "paid" || m.result?.data?.data?.status === "paid");

describe("a forged PUBLISH reaches no watcher as paid", () => {
  test("forgeries of every shape, then the real confirmation, which every watcher still hears", async () => {
    const { payment } = (await restCreate(cluster.a.url, 254.3)).body;
    const id = payment.bank_payment_id as string;
    const onWs = await openSocket(wsUrl(cluster.b.url, `/ws?bank_payment_id=${id}`));
    const onTrpc = await openSocket(wsUrl(cluster.b.url, "/trpc-ws"));
    sockets.push(onWs, onTrpc);
    onTrpc.send({ id: 1, method: "subscription", params: { path: "payments.watch", input: { bank_payment_id: id } } });
    await onWs.next((m) => m.type === "payment");
    await onTrpc.next((m) => m.result?.type === "data");

    const forged = { ...payment, status: "paid", paid: true, paid_at: new Date().toISOString() };
    const domainPaid = {
      id: payment.id,
      bankPaymentId: id,
      amountCents: 25430,
      status: "paid",
      brCode: payment.pix_copy_paste,
      createdAt: Date.now(),
      expiresAt: Date.now() + 60_000,
      paidAt: Date.now(),
    };
    const forgeries = [
      JSON.stringify({ payment: { status: "paid" } }),
      // The shape the bus carried before issue 9: a state and an event id, from an "instance" that is none.
      JSON.stringify({ origin: "forger", eventId: 999_999_999, payment: domainPaid }),
      // Today's news, with a state and a huge event id riding along.
      JSON.stringify({ origin: "forger", bankPaymentId: id, eventId: 999_999_999, payment: forged, status: "paid" }),
      JSON.stringify({ origin: "forger", bankPaymentId: id }),
      "not json at all",
      JSON.stringify({ origin: "forger", bankPaymentId: "x".repeat(10_000) }),
    ];
    const forger = createClient({ url: cluster.redis.url });
    await forger.connect();
    try {
      for (const message of forgeries) await forger.publish("payments:changed", message);
    } finally {
      await forger.close();
    }
    await Bun.sleep(300);
    expect((await (await fetch(`${cluster.a.url}/healthz`)).json()) as unknown).toEqual({ status: "ok" });
    expect(paidStates(onWs)).toEqual([]);
    expect(paidStates(onTrpc)).toEqual([]);

    expect((await restConfirm(cluster.a.url, { bank_payment_id: id, value: 254.3 })).status).toBe(200);
    await waitUntil(() => paidStates(onWs).length === 1 && paidStates(onTrpc).length === 1, 5000, "real confirmation");
    // The real state, read from the database: its own paid_at, not the forger's.
    const [real] = paidStates(onWs);
    expect(real.payment.paid_at).not.toBe(forged.paid_at);
  }, 30_000);
});

describe("Redis with a password", () => {
  test("REDIS_URL with the credentials connects both instances (the cluster above runs on one)", async () => {
    expect(cluster.redis.url).toStartWith("redis://:s3cret%20p%40ss%2Fword@");
    for (const url of [cluster.a.url, cluster.b.url]) {
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: "ready", database: true, bus: true });
    }
  });

  test("a wrong password is not ready, and the password never reaches the log", async () => {
    const wrong = cluster.redis.url.replace("s3cret%20p%40ss%2Fword", "wrong-password");
    const server = await spawnServer({ REDIS_URL: wrong, DATABASE_URL: cluster.databaseFile });
    try {
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).bus).toBe(false);
      expect(server.output()).not.toContain("wrong-password");
    } finally {
      await server.stop("SIGKILL");
    }
  }, 20_000);
});
