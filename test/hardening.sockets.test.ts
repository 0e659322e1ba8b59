import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createLogger } from "../src/log.ts";
import { createMessageBucket } from "../src/realtime/rate-limit.ts";
import {
  openSocket,
  restCreate,
  type ServerProcess,
  type SocketProbe,
  spawnServer,
  startTestApp,
  type TestApp,
  waitUntil,
  wsUrl,
} from "./harness.ts";

/**
 * Issue 10, items 1, 2 and 6: every socket and every watch is bounded. One socket cannot hold more than 20
 * watches on either path, the instance holds a bounded number of watches and sockets, sockets that watch
 * nothing are closed after a grace, a socket over its message rate is refused and then closed, and refused
 * calls are not logged one by one.
 */

const watchCall = (id: number, bankPaymentId: string) => ({
  id,
  method: "subscription",
  params: { path: "payments.watch", input: { bank_payment_id: bankPaymentId } },
});
const answersFor = (s: SocketProbe, id: number) => s.messages.filter((m) => m.id === id);
const isStarted = (m: any) => m.result?.type === "started";
const closeAll = (sockets: SocketProbe[]) => {
  for (const s of sockets) s.close();
};

describe("one socket watches at most 20 payments, on /trpc-ws as on /ws", () => {
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp();
  });
  afterAll(() => app.stop());

  test("25 watches on /trpc-ws: the first 20 run, each of the other 5 gets its own error, the socket stays open", async () => {
    const { payment } = (await restCreate(app.url, 4)).body;
    const s = await openSocket(wsUrl(app.url, "/trpc-ws"));
    try {
      for (let id = 1; id <= 25; id++) s.send(watchCall(id, payment.bank_payment_id));
      await waitUntil(
        () => s.messages.filter((m) => m.result?.type === "data" || m.error).length >= 25,
        5000,
        "answers",
      );
      for (let id = 1; id <= 20; id++) expect(answersFor(s, id).some((m) => m.result?.type === "data")).toBe(true);
      for (let id = 21; id <= 25; id++) {
        expect(answersFor(s, id).map((m) => m.error?.message)).toEqual([
          "Too many subscriptions: at most 20 per connection",
        ]);
        expect(answersFor(s, id)[0].error.data.code).toBe("TOO_MANY_REQUESTS");
      }
      expect(app.watchBudget.count()).toBe(20);
      // Still open: stopping one makes room for another.
      s.send({ id: 1, method: "subscription.stop" });
      await waitUntil(() => app.watchBudget.count() === 19, 2000, "one watch released");
      s.send(watchCall(26, payment.bank_payment_id));
      await waitUntil(() => answersFor(s, 26).some((m) => m.result?.type === "data"), 2000, "the 26th runs");
    } finally {
      s.close();
    }
    await waitUntil(() => app.watchBudget.count() === 0, 2000, "every watch released on close");
  });

  test("25 subscriptions on /ws: 20 payments, then an error for each other, the socket stays open", async () => {
    const s = await openSocket(wsUrl(app.url, "/ws"));
    try {
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) ids.push((await restCreate(app.url, 1)).body.payment.bank_payment_id);
      for (const id of ids) s.send({ type: "subscribe", bank_payment_id: id });
      await waitUntil(() => s.messages.length >= 25, 5000, "answers");
      expect(s.messages.filter((m) => m.type === "payment")).toHaveLength(20);
      expect(s.messages.filter((m) => m.type === "error").map((m) => m.message)).toEqual(
        Array(5).fill("Too many subscriptions: at most 20 per connection"),
      );
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      s.close();
    }
  });

  test("/trpc-ws serves subscriptions only; a frame of more than 10 calls is refused call by call", async () => {
    const s = await openSocket(wsUrl(app.url, "/trpc-ws"));
    try {
      s.send({ id: 1, method: "mutation", params: { path: "payments.create", input: { value: 1 } } });
      expect((await s.next((m) => m.id === 1)).error).toMatchObject({
        message: "Only subscriptions are served on /trpc-ws; use /trpc for queries and mutations",
        data: { code: "METHOD_NOT_SUPPORTED" },
      });
      const { payment } = (await restCreate(app.url, 2)).body;
      s.send(Array.from({ length: 11 }, (_, i) => watchCall(100 + i, payment.bank_payment_id)));
      await waitUntil(() => s.messages.filter((m) => m.id >= 100).length >= 11, 2000, "11 answers");
      expect(new Set(s.messages.filter((m) => m.id >= 100).map((m) => m.error?.message))).toEqual(
        new Set(["Batch call exceeds maximum size"]),
      );
    } finally {
      s.close();
    }
  });
});

describe("the instance holds at most MAX_WATCHES watches, /ws and tRPC (WebSocket and SSE) together", () => {
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp({ env: { MAX_WATCHES: "30" } });
  });
  afterAll(() => app.stop());

  test("past 30, /ws, /trpc-ws and SSE are refused with a message until a watch ends", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 21; i++) ids.push((await restCreate(app.url, 1)).body.payment.bank_payment_id);
    const ws = await openSocket(wsUrl(app.url, "/ws"));
    const trpc = await openSocket(wsUrl(app.url, "/trpc-ws"));
    try {
      for (const id of ids.slice(0, 20)) ws.send({ type: "subscribe", bank_payment_id: id });
      for (let i = 0; i < 10; i++) trpc.send(watchCall(i + 1, ids[i]!));
      await waitUntil(() => app.watchBudget.count() === 30, 5000, "30 watches");

      trpc.send(watchCall(11, ids[20]!));
      expect((await trpc.next((m) => m.id === 11 && m.error)).error).toMatchObject({
        message: "Too many subscriptions on this server; try again later",
        data: { code: "SERVICE_UNAVAILABLE" },
      });
      const other = await openSocket(wsUrl(app.url, "/ws"));
      other.send({ type: "subscribe", bank_payment_id: ids[20] });
      expect(await other.next()).toEqual({
        type: "error",
        message: "Too many subscriptions on this server; try again later",
      });
      other.close();
      const input = encodeURIComponent(JSON.stringify({ bank_payment_id: ids[20] }));
      const sse = await fetch(`${app.url}/trpc/payments.watch?input=${input}`, {
        headers: { accept: "text/event-stream" },
      });
      expect(await sse.text()).toContain("Too many subscriptions on this server; try again later");

      ws.send({ type: "unsubscribe", bank_payment_id: ids[0] });
      await waitUntil(() => app.watchBudget.count() === 29, 2000, "one released");
      trpc.send(watchCall(12, ids[20]!));
      await trpc.next((m) => m.id === 12 && m.result?.type === "data");
    } finally {
      closeAll([ws, trpc]);
    }
  });
});

describe("sockets per instance, and sockets that watch nothing", () => {
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp({ env: { WS_MAX_CONNECTIONS: "3", WS_IDLE_GRACE_MS: "300" } });
  });
  afterAll(() => app.stop());

  test("past WS_MAX_CONNECTIONS an upgrade is 503 with a message and Retry-After; a closed socket frees its place", async () => {
    const { payment } = (await restCreate(app.url, 3)).body;
    const url = wsUrl(app.url, `/ws?bank_payment_id=${payment.bank_payment_id}`);
    const held = [await openSocket(url), await openSocket(url), await openSocket(url)];
    try {
      const refused = await fetch(`${app.url}/ws`, {
        headers: {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("5");
      expect(await refused.json()).toEqual({ message: "Too many WebSocket connections; try again later" });
      await expect(openSocket(wsUrl(app.url, "/trpc-ws"))).rejects.toThrow();
      held.pop()!.close();
      await waitUntil(() => app.sockets.openSockets() === 2, 2000, "one closed");
      held.push(await openSocket(url));
    } finally {
      closeAll(held);
    }
  });

  test("a socket that never subscribes is closed after WS_IDLE_GRACE_MS, on both paths; a watching one stays", async () => {
    const { payment } = (await restCreate(app.url, 3)).body;
    const idleWs = await openSocket(wsUrl(app.url, "/ws"));
    const idleTrpc = await openSocket(wsUrl(app.url, "/trpc-ws"));
    const watching = await openSocket(wsUrl(app.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    try {
      const started = Date.now();
      const [a, b] = await Promise.all([idleWs.closed, idleTrpc.closed]);
      expect(Date.now() - started).toBeLessThan(2000);
      expect([a.code, a.reason, b.code, b.reason]).toEqual([1000, "No subscription", 1000, "No subscription"]);
      expect(watching.ws.readyState).toBe(WebSocket.OPEN);
      // Once it watches nothing any more, its grace starts again.
      watching.send({ type: "unsubscribe", bank_payment_id: payment.bank_payment_id });
      expect((await watching.closed).reason).toBe("No subscription");
    } finally {
      closeAll([idleWs, idleTrpc, watching]);
    }
  });
});

describe("a per-socket message rate, on both paths", () => {
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp({ env: { WS_MESSAGES_PER_SECOND: "1", WS_MESSAGE_BURST: "5" } });
  });
  afterAll(() => app.stop());

  test("/ws: past the burst each message gets an error; a socket that keeps flooding is closed with 1008", async () => {
    // Five payments, so each of the burst's subscriptions is a new one that must be answered.
    const payments = await Promise.all([1, 2, 3, 4, 5].map(async (v) => (await restCreate(app.url, v)).body.payment));
    const s = await openSocket(wsUrl(app.url, "/ws"));
    // The burst is served (each answer is read from storage, so wait for them), then the flood is refused.
    for (const p of payments) s.send({ type: "subscribe", bank_payment_id: p.bank_payment_id });
    await waitUntil(
      () => s.messages.filter((m) => m.type === "payment").length === 5,
      5000,
      "the burst's 5 answers",
    ).catch((err) => {
      throw new Error(`${err.message}; got ${JSON.stringify(s.messages.map((m) => m.type))}`);
    });
    for (let i = 0; i < 25; i++) s.send({ type: "subscribe", bank_payment_id: payments[0]!.bank_payment_id });
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([1008, "Too many messages"]);
    expect(
      s.messages
        .filter((m) => m.type === "payment")
        .map((m) => m.payment.id)
        .sort(),
    ).toEqual(payments.map((p) => p.id).sort());
    expect(s.messages.filter((m) => m.type === "error").map((m) => m.message)).toEqual(
      Array(5).fill("Too many messages; slow down"),
    );
  });

  test("/trpc-ws: past the burst each call gets its own TOO_MANY_REQUESTS; flooding closes with 1008", async () => {
    const { payment } = (await restCreate(app.url, 3)).body;
    const s = await openSocket(wsUrl(app.url, "/trpc-ws"));
    for (let id = 1; id <= 30; id++) s.send(watchCall(id, payment.bank_payment_id));
    const closed = await s.closed;
    expect([closed.code, closed.reason]).toEqual([1008, "Too many messages"]);
    const refused = s.messages.filter((m) => m.error?.data?.code === "TOO_MANY_REQUESTS");
    expect(refused.map((m) => m.id)).toEqual([6, 7, 8, 9, 10]);
    expect(refused[0].error.message).toBe("Too many messages; slow down");
  });

  test("the bucket refills at its rate: a client within it is never refused", () => {
    let now = 0;
    const bucket = createMessageBucket({ perSecond: 2, burst: 3 }, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual(["ok", "ok", "ok", "refused"]);
    now += 500; // one token back
    expect([bucket.take(), bucket.take()]).toEqual(["ok", "refused"]);
    for (let i = 0; i < 100; i++) {
      now += 500;
      expect(bucket.take()).toBe("ok");
    }
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([
      "refused",
      "refused",
      "refused",
      "flooding",
    ]);
  });
});

describe("refused calls are not logged one by one", () => {
  test("400 keyless, invalid or unknown /trpc-ws calls write at most a few short lines, no warning, no stack", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    const app = startTestApp({ logger: createLogger("info", sink) });
    const s = await openSocket(wsUrl(app.url, "/trpc-ws"));
    try {
      const linesBefore = lines.length;
      const calls = [
        (id: number) => ({ id, method: "mutation", params: { path: "payments.create", input: { value: 1 } } }),
        (id: number) => ({ id, method: "query", params: { path: "payments.get", input: { id: 1 } } }),
        (id: number) => watchCall(id, crypto.randomUUID()),
        (id: number) => ({ id, method: "subscription", params: { path: "payments.watch", input: { bad: 1 } } }),
      ];
      // 40 frames (the default burst) of 10 calls (the batch limit): 400 calls, every one refused.
      for (let frame = 0; frame < 40; frame++) {
        s.send(Array.from({ length: 10 }, (_, i) => calls[i % calls.length]!(frame * 10 + i + 1)));
      }
      await waitUntil(() => s.messages.filter((m) => m.error).length >= 400, 10_000, "400 refusals");
      await Bun.sleep(50);
      const written = lines.slice(linesBefore);
      expect(written.length).toBeLessThanOrEqual(3);
      expect(written.join("\n")).not.toContain("stack");
      expect(written.every((l) => JSON.parse(l).level <= 30)).toBe(true);
    } finally {
      s.close();
      await app.stop();
    }
  });
});

describe("memory stays flat however many watches one socket asks for", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    // The message rate is lifted so that every one of the 10,000 attempts reaches the watch cap.
    server = await spawnServer({ WS_MESSAGES_PER_SECOND: "1000000", WS_MESSAGE_BURST: "1000000" });
  });
  afterAll(() => server.stop());

  const rssMiB = () =>
    Number(/VmRSS:\s+(\d+) kB/.exec(require("node:fs").readFileSync(`/proc/${server.proc.pid}/status`, "utf8"))![1]) /
    1024;

  test("10,000 subscription attempts on one /trpc-ws socket leave RSS flat, and /healthz answers", async () => {
    const { payment } = (await restCreate(server.url, 8)).body;
    const s = await openSocket(wsUrl(server.url, "/trpc-ws"));
    /** Sends 10,000 watch calls (frames of 10) and waits until each is answered. */
    const attempt = async (firstId: number) => {
      for (let frame = 0; frame < 1000; frame++) {
        s.send(Array.from({ length: 10 }, (_, i) => watchCall(firstId + frame * 10 + i, payment.bank_payment_id)));
      }
      await waitUntil(
        () => s.messages.filter((m) => m.id >= firstId && (m.error || isStarted(m))).length >= 10_000,
        20_000,
        "10,000 answers",
      );
    };
    try {
      // A first round brings the server's heap to its working size: what the refusals allocate is garbage
      // that the next round reuses. Watches that were kept would grow it again by ~160 MiB a round.
      await attempt(1);
      const before = rssMiB();
      await attempt(100_000);
      const after = rssMiB();
      const health = performance.now();
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect(performance.now() - health).toBeLessThan(1000);
      console.log(`server RSS ${before.toFixed(1)} MiB before, ${after.toFixed(1)} MiB after 10,000 more attempts`);
      expect(after - before).toBeLessThan(25);
      expect(s.messages.filter((m) => isStarted(m)).length).toBe(20);
    } finally {
      s.close();
    }
  }, 30_000);
});
