/**
 * deploy/nginx.conf in front of two instances on one PostgreSQL and one Redis, as the README's "Several
 * hosts" runs them: Debian's nginx with the committed file, only its upstreams, port and file locations
 * changed. nginx balances as it likes; each test opens watchers through it until one sits on each
 * instance (read from the instances' own /metrics), then sends the confirmation through nginx and finds
 * the instance that handled it by its X-Request-Id in that instance's request log, so one watcher is
 * always told by the instance it is not connected to.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { createPaymentWatchClient, type PaymentWatchClient } from "../client/index.ts";
import { MESSAGES } from "../src/messages.ts";
import {
  merchantHeaders,
  openSocket,
  ROOT,
  type ServerProcess,
  type SocketProbe,
  signWebhook,
  spawnServer,
  tempDir,
  waitUntil,
  wsUrl,
} from "./harness.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";
import { freePort, startRedis, type TestRedis } from "./redis.ts";

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p)) ?? Bun.which("nginx");
const CONF = readFileSync(join(ROOT, "deploy/nginx.conf"), "utf8");

/** Replaces `pattern` in `text`, failing when the committed file no longer has it. */
function swap(text: string, pattern: RegExp, by: string): string {
  if (!pattern.test(text)) throw new Error(`deploy/nginx.conf no longer matches ${pattern}; update the test`);
  return text.replace(pattern, by);
}

/** The committed file with its pid, log and temporary files moved into `dir`, so it touches nothing else. */
function relocate(conf: string, dir: string): string {
  let out = swap(conf, /^pid .*;$/m, `pid ${dir}/nginx.pid;`);
  out = swap(out, /access_log \/var\/log\/nginx\//, `access_log ${dir}/`);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${dir}/${t};`);
  return swap(out, /^http \{$/m, `http {\n  ${temp.join("\n  ")}`);
}

/** And pointed at this test's instances and port; workers run as root, who owns the temp folder. */
function render(conf: string, dir: string, upstreams: string[], port: number): string {
  let out = relocate(conf, dir);
  out = swap(out, /^user .*;$/m, "user root;");
  out = swap(
    out,
    /(upstream payments \{\n)(?:\s*server .*;\n)+/,
    `$1${upstreams.map((u) => `    server ${u};\n`).join("")}`,
  );
  return swap(out, /listen 8080;/, `listen 127.0.0.1:${port};`);
}

let pg: TestPostgres | undefined;
let redis: TestRedis | undefined;
let nginx: ReturnType<typeof Bun.spawn> | undefined;
let nginxErr = "";
let proxy = "";
const instances: ServerProcess[] = [];
const sockets: SocketProbe[] = [];
const clients: PaymentWatchClient[] = [];
const unsubscribes: Array<() => void> = [];
const tmp = tempDir("payments-nginx-");

const stopNginx = () => {
  // Fast shutdown: a graceful one would wait for the open WebSockets.
  if (nginx && nginx.exitCode === null) nginx.kill("SIGTERM");
};

beforeAll(async () => {
  if (!NGINX) throw new Error("nginx is not installed; this test runs Debian's nginx: apt-get install nginx");
  pg = await startPostgres();
  const databaseUrl = await pg.createDatabase();
  redis = await startRedis();
  const port = await freePort();
  proxy = `http://127.0.0.1:${port}`;
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, PUBLIC_URL: proxy, LOG_LEVEL: "info" };
  // One after the other: the first applies the migrations.
  for (let i = 0; i < 2; i++) instances.push(await spawnServer(env));
  const conf = join(tmp.dir, "nginx.conf");
  writeFileSync(
    conf,
    render(
      CONF,
      tmp.dir,
      instances.map((s) => `127.0.0.1:${s.port}`),
      port,
    ),
  );
  nginx = Bun.spawn([NGINX, "-p", tmp.dir, "-c", conf, "-g", "daemon off; error_log stderr;"], {
    stdout: "ignore",
    stderr: "pipe",
  });
  // Should this process die before its afterAll (bun test runs no exit handlers), nginx goes with it; its
  // pid file exists only while it runs.
  Bun.spawn(
    [
      "sh",
      "-c",
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
        `pid=$(cat ${tmp.dir}/nginx.pid 2>/dev/null) && kill -TERM "$pid"`,
    ],
    { stdio: ["ignore", "ignore", "ignore"] },
  ).unref();
  void (async () => {
    for await (const chunk of nginx!.stderr as ReadableStream<Uint8Array>) nginxErr += new TextDecoder().decode(chunk);
  })();
  await waitUntil(
    async () => {
      if (nginx!.exitCode !== null) throw new Error(`nginx exited ${nginx!.exitCode}: ${nginxErr}`);
      return (await fetch(`${proxy}/readyz`).catch(() => null))?.status === 200;
    },
    10_000,
    "nginx answering /readyz",
  );
}, 45_000);

afterAll(async () => {
  try {
    for (const stop of unsubscribes) stop();
    for (const s of sockets) s.close();
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    stopNginx();
    await nginx?.exited;
    await Promise.all(instances.map((s) => s.stop("SIGKILL")));
    await redis?.stop();
    await pg?.destroy();
    tmp.cleanup();
  }
}, 30_000);

/** A sample's value in an instance's own /metrics (0 when absent). */
async function metric(instance: ServerProcess, sample: string): Promise<number> {
  const text = await (await fetch(`${instance.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** The instance whose request log has this request id; fails unless exactly one has it. */
async function handledBy(requestId: string): Promise<ServerProcess> {
  const has = () => instances.filter((s) => s.output().includes(`"request_id":"${requestId}"`));
  await waitUntil(() => has().length > 0, 5000, `a request log line with ${requestId}`);
  expect(has()).toHaveLength(1);
  return has()[0]!;
}

/**
 * Opens watchers through nginx until one is on each instance; `open` resolves once its watcher has the
 * payment's current state, and `sample` is the metric that counts such watchers on an instance.
 */
async function oneOnEach<T>(open: () => Promise<T>, sample: string): Promise<Map<ServerProcess, T>> {
  const placed = new Map<ServerProcess, T>();
  for (let tries = 0; tries < 10 && placed.size < instances.length; tries++) {
    const before = await Promise.all(instances.map((s) => metric(s, sample)));
    const watcher = await open();
    const after = await Promise.all(instances.map((s) => metric(s, sample)));
    const on = instances.filter((_, i) => after[i]! > before[i]!);
    expect(on).toHaveLength(1);
    if (!placed.has(on[0]!)) placed.set(on[0]!, watcher);
  }
  if (placed.size < instances.length) throw new Error(`nginx sent 10 ${sample} watchers to one instance`);
  return placed;
}

async function createThroughProxy(value: number) {
  const res = await fetch(`${proxy}/payments`, {
    method: "POST",
    headers: merchantHeaders(),
    body: JSON.stringify({ value }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as any).payment;
}

/** Sends a signed confirmation through nginx and returns the instance that handled it. */
async function confirmThroughProxy(bankPaymentId: string, value: number): Promise<ServerProcess> {
  const body = JSON.stringify({ bank_payment_id: bankPaymentId, value });
  const requestId = `nginx-test-${crypto.randomUUID()}`;
  const res = await fetch(`${proxy}/payments/pix/confirmation`, {
    method: "POST",
    headers: { ...signWebhook(body), "x-request-id": requestId },
    body,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("x-request-id")).toBe(requestId);
  return await handledBy(requestId);
}

/** payments.watch through nginx with the typed client; resolves once the current state has arrived. */
async function watchThroughProxy(transport: "sse" | "ws", bankPaymentId: string) {
  const client = createPaymentWatchClient({ url: proxy, transport });
  clients.push(client);
  const statuses: string[] = [];
  const errors: unknown[] = [];
  const sub = client.payments.watch.subscribe(
    { bank_payment_id: bankPaymentId },
    { onData: (e) => statuses.push(e.data.status), onError: (e) => errors.push(e) },
  );
  unsubscribes.push(() => sub.unsubscribe());
  await waitUntil(() => statuses.length > 0 || errors.length > 0, 5000, `${transport} watch's first state`);
  expect(errors).toEqual([]);
  expect(statuses).toEqual(["pending"]);
  return { statuses, errors };
}

describe("deploy/nginx.conf in front of two instances", () => {
  test("nginx -t accepts the committed file (its pid, log and temp paths moved to a temp folder)", () => {
    const conf = join(tmp.dir, "check.conf");
    writeFileSync(conf, relocate(CONF, tmp.dir));
    const check = Bun.spawnSync([NGINX!, "-t", "-p", tmp.dir, "-c", conf, "-g", "error_log stderr;"], {
      stderr: "pipe",
    });
    expect(check.stderr.toString()).toContain("test is successful");
    expect(check.exitCode).toBe(0);
  });

  test("a create through nginx; nginx spreads requests over both instances and passes X-Request-Id", async () => {
    const requestId = `nginx-test-${crypto.randomUUID()}`;
    const res = await fetch(`${proxy}/payments`, {
      method: "POST",
      headers: merchantHeaders(undefined, { "x-request-id": requestId }),
      body: JSON.stringify({ value: 19.9 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe(requestId);
    const { payment } = (await res.json()) as any;
    expect(payment).toMatchObject({ value: 19.9, status: "pending" });
    // PUBLIC_URL is the proxy: the links a payer follows lead through it.
    expect(payment.checkout_url).toBe(`${proxy}/pay/${payment.bank_payment_id}`);
    await handledBy(requestId);
    const ids = Array.from({ length: 8 }, (_, i) => `nginx-spread-${i}-${crypto.randomUUID()}`);
    for (const id of ids)
      expect((await fetch(`${proxy}/healthz`, { headers: { "x-request-id": id } })).status).toBe(200);
    const served = await Promise.all(ids.map(handledBy));
    expect(new Set(served).size).toBe(2);
  }, 30_000);

  test("a /ws subscriber through nginx hears a confirmation that the other instance handled", async () => {
    const payment = await createThroughProxy(31.4);
    const placed = await oneOnEach(async () => {
      const s = await openSocket(wsUrl(proxy, `/ws?bank_payment_id=${payment.bank_payment_id}`));
      sockets.push(s);
      expect((await s.next()).payment).toMatchObject({ id: payment.id, status: "pending" });
      return s;
    }, 'websocket_connections{path="/ws"}');
    const handler = await confirmThroughProxy(payment.bank_payment_id, 31.4);
    const across = placed.get(instances.find((s) => s !== handler)!)!;
    const told = await across.next((m) => m.type === "payment" && m.payment.status === "paid");
    expect(told.payment).toMatchObject({ id: payment.id, paid: true });
    await placed.get(handler)!.next((m) => m.type === "payment" && m.payment.status === "paid");
  }, 30_000);

  for (const transport of ["sse", "ws"] as const) {
    const path = transport === "sse" ? "SSE at /trpc" : "/trpc-ws";
    test(`payments.watch over ${path} through nginx hears a confirmation the other instance handled`, async () => {
      const payment = await createThroughProxy(12.5);
      const placed = await oneOnEach(
        () => watchThroughProxy(transport, payment.bank_payment_id),
        "trpc_watch_subscriptions",
      );
      const handler = await confirmThroughProxy(payment.bank_payment_id, 12.5);
      const across = placed.get(instances.find((s) => s !== handler)!)!;
      await waitUntil(() => across.statuses.includes("paid"), 5000, `paid over ${path} from the other instance`);
      await waitUntil(() => placed.get(handler)!.statuses.includes("paid"), 5000, "paid on the handler's watcher");
      expect(across.statuses).toEqual(["pending", "paid"]);
      expect(across.errors).toEqual([]);
    }, 30_000);
  }

  test("over 64 KiB: the app's JSON 413 through nginx; far larger bodies stop at nginx", async () => {
    const post = (bytes: number) =>
      fetch(`${proxy}/payments`, {
        method: "POST",
        headers: merchantHeaders(),
        body: JSON.stringify({ value: 1, pad: "x".repeat(bytes) }),
      });
    const overApp = await post(70 * 1024);
    expect(overApp.status).toBe(413);
    expect(await overApp.json()).toEqual({ message: MESSAGES.bodyTooLarge });
    const overProxy = await post(200 * 1024);
    expect(overProxy.status).toBe(413);
    expect(overProxy.headers.get("content-type")).toContain("text/html");
  }, 30_000);

  test("/metrics through nginx answers loopback and refuses any other address", async () => {
    const res = await fetch(`${proxy}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("http_requests_total");
    // The same request from 127.0.0.2, which the allow rule does not cover.
    const status = await new Promise<string>((resolve, reject) => {
      const { port } = new URL(proxy);
      const socket = connect({ host: "127.0.0.1", port: Number(port), localAddress: "127.0.0.2" }, () =>
        socket.write("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
      );
      let reply = "";
      socket.on("data", (d) => (reply += d.toString()));
      socket.on("end", () => resolve(reply.split("\r\n")[0] ?? ""));
      socket.on("error", reject);
    });
    expect(status).toBe("HTTP/1.1 403 Forbidden");
  }, 30_000);
});
