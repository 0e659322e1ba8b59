/**
 * Merchant webhooks (CONTRACT §10) across real server processes: two instances on one database and one Redis
 * deliver each event once; a SIGKILLed instance's due delivery is delivered after a restart with the same
 * webhook-id; secrets never reach the logs or the lists; a receiver that never answers does not slow creates.
 * Each process dispatches on its own timer (every second), so these tests use a short WEBHOOK_RETRY_SCHEDULE.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import { queryDatabase } from "./backend.ts";
import {
  merchantHeaders,
  restConfirm,
  restCreate,
  restGet,
  type ServerProcess,
  spawnServer,
  tempDir,
  waitUntil,
} from "./harness.ts";
import { freePort, startTwoInstances } from "./redis.ts";
import { startReceiver } from "./webhook-receiver.ts";

const stops: Array<() => unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function spawn(env: Record<string, string>): Promise<ServerProcess> {
  const server = await spawnServer(env);
  stops.push(() => server.stop("SIGKILL"));
  return server;
}

async function register(url: string, body: Record<string, unknown>): Promise<{ endpoint: any; secret: string }> {
  const res = await fetch(`${url}/webhook-endpoints`, {
    method: "POST",
    headers: merchantHeaders(),
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as any;
}

const deliveriesOf = async (url: string, endpointId: string) =>
  (await restGet(url, `/webhook-endpoints/${endpointId}/deliveries?limit=100`)).body.deliveries as any[];

/** A counter's value in a process's /metrics (0 when absent). */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** A receiver on a given port (the SIGKILL test starts it where the endpoint already points). */
function receiverOn(port: number) {
  const ids: string[] = [];
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    async fetch(req) {
      await req.text();
      ids.push(req.headers.get("webhook-id") ?? "");
      return new Response("ok");
    },
  });
  return { ids, stop: () => server.stop(true) };
}

describe("merchant webhooks across processes", () => {
  test("two instances sharing one database and one Redis deliver every event exactly once", async () => {
    const cluster = await startTwoInstances({ WEBHOOK_RETRY_SCHEDULE: "0,1" });
    stops.push(cluster.stop);
    const receiver = startReceiver();
    stops.push(receiver.stop);
    const { endpoint } = await register(cluster.a.url, { url: receiver.url });

    const instances = [cluster.a, cluster.b];
    let events = 0;
    for (let i = 0; i < 20; i++) {
      const on = instances[i % 2]!;
      const created = await restCreate(on.url, i + 1);
      expect(created.status).toBe(200);
      events++;
      if (i % 4 < 2) {
        // Half are confirmed, on the other instance than the one that created them.
        const other = instances[(i + 1) % 2]!;
        const confirmed = await restConfirm(other.url, {
          bank_payment_id: created.body.payment.bank_payment_id,
          value: i + 1,
        });
        expect(confirmed.status).toBe(200);
        events++;
      }
    }
    expect(events).toBe(30);

    const delivered = async () =>
      (
        await queryDatabase(
          cluster.databaseFile,
          "SELECT count(*) AS n FROM endpoint_deliveries WHERE status = 'delivered'",
        )
      )[0]!.n as number;
    await waitUntil(async () => (await delivered()) === events, 10_000, "every delivery delivered");
    // A duplicate would be an attempt claimed twice, sent before either recorded it: give one dispatch
    // interval for any such request still on its way.
    await Bun.sleep(1200);

    const ids = receiver.received.map((d) => d.headers["webhook-id"]);
    expect(ids).toHaveLength(events);
    expect(new Set(ids).size).toBe(events);
    const types = receiver.received.map((d) => d.json.type);
    expect(types.filter((t) => t === "payment.created")).toHaveLength(20);
    expect(types.filter((t) => t === "payment.paid")).toHaveLength(10);
    // The log's event ids are exactly the ids received, each delivered at the first attempt.
    const log = await deliveriesOf(cluster.b.url, endpoint.id);
    expect(log.map((d) => d.event_id).sort()).toEqual([...ids].sort());
    expect(log.every((d) => d.status === "delivered" && d.attempts === 1)).toBe(true);
    // Each attempt was made by one instance: the two counters add up to the events.
    const attemptsA = await metric(cluster.a.url, "webhook_delivery_attempts_total");
    const attemptsB = await metric(cluster.b.url, "webhook_delivery_attempts_total");
    expect(attemptsA + attemptsB).toBe(events);
  }, 30_000);

  test("SIGKILLed after a failed attempt: a new instance on the same database delivers it, same webhook-id", async () => {
    const port = await freePort(); // nothing listens there yet: connection refused
    const tmp = tempDir("payments-sigkill-");
    stops.push(tmp.cleanup);
    const env = {
      DATABASE_URL: `${tmp.dir}/payments.sqlite`,
      WEBHOOK_RETRY_SCHEDULE: "0,1,1,1,1,1",
    };
    const first = await spawn(env);
    const { endpoint } = await register(first.url, {
      url: `http://127.0.0.1:${port}/hook`,
      events: ["payment.created"],
    });
    expect((await restCreate(first.url, 7)).status).toBe(200);
    let failed: any;
    await waitUntil(
      async () => {
        [failed] = await deliveriesOf(first.url, endpoint.id);
        return failed !== undefined && failed.attempts >= 1;
      },
      5000,
      "a failed attempt in the log",
    );
    expect(failed).toMatchObject({ status: "pending", last_status_code: null });
    expect(failed.last_error).toBe("Connection refused");
    expect(await first.stop("SIGKILL")).not.toBe(0);

    const receiver = receiverOn(port);
    stops.push(receiver.stop);
    const second = await spawn(env);
    let done: any;
    await waitUntil(
      async () => {
        [done] = await deliveriesOf(second.url, endpoint.id);
        return done.status !== "pending";
      },
      10_000,
      "the delivery after the restart",
    );
    expect(done).toMatchObject({ id: failed.id, status: "delivered", last_status_code: 200, last_error: null });
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    expect(receiver.ids).toEqual([failed.event_id]);
  }, 30_000);

  test("secrets never appear in the logs (LOG_LEVEL=debug) nor in list, get or the delivery log", async () => {
    const receiver = startReceiver(
      (_req, n) => new Response(n === 1 ? "not yet" : "ok", { status: n === 1 ? 500 : 200 }),
    );
    stops.push(receiver.stop);
    const server = await spawn({ LOG_LEVEL: "debug", WEBHOOK_RETRY_SCHEDULE: "0,1" });
    const { endpoint, secret } = await register(server.url, { url: receiver.url });
    const rotated = await fetch(`${server.url}/webhook-endpoints/${endpoint.id}/rotate-secret`, {
      method: "POST",
      headers: merchantHeaders(),
    });
    expect(rotated.status).toBe(200);
    const { secret: newSecret } = (await rotated.json()) as { secret: string };
    expect(newSecret).not.toBe(secret);

    for (let i = 1; i <= 3; i++) {
      const created = await restCreate(server.url, i);
      if (i === 1) await restConfirm(server.url, { bank_payment_id: created.body.payment.bank_payment_id, value: i });
    }
    // 4 events, the first answered 500 and retried a second later.
    await waitUntil(async () => receiver.received.length >= 5, 10_000, "5 requests");
    const log = await deliveriesOf(server.url, endpoint.id);
    await waitUntil(
      async () => (await deliveriesOf(server.url, endpoint.id)).every((d) => d.status === "delivered"),
      5000,
      "all delivered",
    );
    // The deliveries were signed with both secrets (the rotation's overlap).
    for (const d of receiver.received) {
      expect(new Webhook(newSecret).verify(d.body, d.headers)).toEqual(d.json);
      expect(new Webhook(secret).verify(d.body, d.headers)).toEqual(d.json);
    }

    const bodies = [
      JSON.stringify((await restGet(server.url, "/webhook-endpoints")).body),
      JSON.stringify((await restGet(server.url, `/webhook-endpoints/${endpoint.id}`)).body),
      JSON.stringify(log),
      JSON.stringify(await deliveriesOf(server.url, endpoint.id)),
    ];
    await Bun.sleep(100); // pino writes asynchronously
    const output = server.output();
    // The logs were captured: the request lines of the routes that handle the secrets are there.
    expect(output).toContain('"route":"/webhook-endpoints/{id}/rotate-secret","status":200');
    expect(output).toContain('"route":"/webhook-endpoints","status":201');
    expect(output).toContain("merchant webhook not delivered"); // the failed attempt was logged
    for (const s of [secret, newSecret]) {
      const key = s.slice("whsec_".length);
      for (const [where, text] of [["output", output], ...bodies.map((b, i) => [`body ${i}`, b])] as const) {
        expect({ where, secret: text.includes(s), key: text.includes(key) }).toEqual({
          where,
          secret: false,
          key: false,
        });
      }
    }
  }, 30_000);

  test("a receiver that never answers does not slow creates; the deliveries wait their turn", async () => {
    const held: Array<() => void> = [];
    let arrived = 0;
    const dead = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      idleTimeout: 0,
      async fetch(req) {
        await req.text();
        arrived++;
        // Held until the test ends; the sender gives up after its 10 s timeout.
        await new Promise<void>((resolve) => held.push(resolve));
        return new Response("late");
      },
    });
    stops.push(() => {
      for (const release of held.splice(0)) release();
      dead.stop(true);
    });
    const server = await spawn({ WEBHOOK_RETRY_SCHEDULE: "0,1" });
    const { endpoint } = await register(server.url, {
      url: `http://127.0.0.1:${dead.port}/hook`,
      events: ["payment.created"],
    });

    const durations: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const started = performance.now();
      const created = await restCreate(server.url, i);
      durations.push(performance.now() - started);
      expect(created.status).toBe(200);
      if (i === 1) await waitUntil(() => arrived >= 1, 5000, "the first attempt reaching the receiver");
    }
    // Attempts hang for 10 s; each create answers well before that.
    expect(Math.max(...durations)).toBeLessThan(1000);

    const log = await deliveriesOf(server.url, endpoint.id);
    expect(log).toHaveLength(40);
    // None delivered; a few attempts under way (at most the per-endpoint bound), the rest pending.
    expect(log.every((d) => d.status === "pending")).toBe(true);
    expect(log.every((d) => d.attempts === 0)).toBe(true);
    expect(arrived).toBeGreaterThanOrEqual(1);
    expect(arrived).toBeLessThanOrEqual(4);
  }, 30_000);
});
