import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPaymentWatchClient } from "../client/index.ts";
import {
  merchantHeaders,
  openSocket,
  restConfirm,
  restCreate,
  spawnServer,
  tempDir,
  waitUntil,
  wsUrl,
} from "./harness.ts";
import { startRedis, type TestRedis } from "./redis.ts";

let redis: TestRedis;
const tmp = tempDir("payments-shutdown-");
beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
}, 30_000);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} with open sockets: close code 1001, exit 0 within 10 s, data intact`, async () => {
    const env = { REDIS_URL: redis.url, DATABASE_URL: `${tmp.dir}/${signal}.sqlite` };
    const server = await spawnServer(env);
    let restarted: Awaited<ReturnType<typeof spawnServer>> | undefined;
    try {
      await waitUntil(async () => (await fetch(`${server.url}/readyz`)).status === 200, 5000, "ready");
      const { payment } = (await restCreate(server.url, 30)).body;
      expect((await restConfirm(server.url, { bank_payment_id: payment.bank_payment_id, value: 30 })).status).toBe(200);
      const sockets = await Promise.all(
        [1, 2, 3].map(() => openSocket(wsUrl(server.url, `/ws?bank_payment_id=${payment.bank_payment_id}`))),
      );
      for (const s of sockets) expect((await s.next()).payment.status).toBe("paid");
      // An SSE stream and a wsLink subscription are open too.
      const sse = createPaymentWatchClient({ url: server.url, transport: "sse" });
      const trpcWs = createPaymentWatchClient({ url: server.url, transport: "ws" });
      const seen: string[] = [];
      const subs = [sse, trpcWs].map((c) =>
        c.payments.watch.subscribe(
          { bank_payment_id: payment.bank_payment_id },
          { onData: (e) => seen.push(e.data.status) },
        ),
      );
      await waitUntil(() => seen.length === 2, 5000, "tRPC snapshots");

      const started = Date.now();
      server.proc.kill(signal);
      const codes = await Promise.all(sockets.map((s) => s.closed.then((e) => e.code)));
      expect(codes).toEqual([1001, 1001, 1001]);
      expect(await server.proc.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      for (const sub of subs) sub.unsubscribe();
      await trpcWs.close();

      // The data survived: a new process on the same file reads the payment as paid.
      restarted = await spawnServer(env);
      const res = await fetch(`${restarted.url}/payments/${payment.id}`, { headers: merchantHeaders() });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).payment).toMatchObject({ id: payment.id, status: "paid", paid: true });
      expect(server.output()).not.toMatch(/unhandled|Uncaught|error/i);
    } finally {
      await server.stop("SIGKILL");
      await restarted?.stop("SIGKILL");
    }
  }, 30_000);
}
