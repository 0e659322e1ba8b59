/**
 * Test harness: starts the real app on real storage (a fresh SQLite file), on port 0, with an injected
 * clock; or real server processes (bun src/index.ts) for multi-instance tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import { Webhook } from "standardwebhooks";
import { newEndToEndId } from "../scripts/bank-pay.ts";
import { createApp } from "../src/app.ts";
import { createInMemoryBus } from "../src/bus/memory.ts";
import type { Clock, Ids } from "../src/clock.ts";
import { randomIds } from "../src/clock.ts";
import { loadConfig } from "../src/config.ts";
import { SERVE_OPTIONS } from "../src/http/server.ts";
import type { Bus } from "../src/payments/events.ts";
import type { Payment } from "../src/payments/model.ts";
import { formatPixAmount } from "../src/pix/amount.ts";
import type { Pix } from "../src/pix/api-pix.ts";
import { txidFromUuid } from "../src/pix/brcode.ts";
import { BACKEND, databaseUrlForProcess, openTestStorage, openTestStorageAt } from "./backend.ts";

export const ROOT = join(import.meta.dir, "..");
export const BUN = process.execPath; // the bun running the tests
export const TEST_API_KEY = "sk_test_0123456789abcdef0123";
export const OTHER_API_KEY = "sk_test_fedcba9876543210fedc";
export const TEST_WEBHOOK_SECRET = `whsec_${Buffer.from("test-webhook-secret-32-bytes-long").toString("base64")}`;

export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** A clock tests move by hand, so expiry needs no sleeping. */
export function manualClock(start = Date.UTC(2025, 3, 8, 15, 15, 25)): ManualClock {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
    set(ms: number) {
      now = ms;
    },
  };
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = "payments-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestAppOptions {
  clock?: ManualClock;
  ids?: Ids;
  bus?: Bus;
  env?: Record<string, string>;
  databaseFile?: string;
  /** false: /trpc goes only through tRPC's fetch adapter (src/http/trpc-http.ts). */
  trpcFastPath?: boolean;
  /** Where the app logs (default: nowhere). */
  logger?: Logger;
  /** Another test app's databaseUrl: this app is a second instance on the same database. */
  databaseUrl?: string;
  /** How long the simulated PSP (no PSP_API_URL) takes to settle a refund. */
  simulatedPspSettleMs?: number;
  /** Resolves merchant webhook hosts (the private-address check) instead of the system resolver. */
  webhookLookup?: (host: string) => Promise<string[]>;
}

/** Starts the app in this process on port 0 with fresh storage of the run's backend (test/backend.ts). */
export function startTestApp(options: TestAppOptions = {}) {
  const tmp = tempDir();
  const test = options.databaseUrl
    ? openTestStorageAt(options.databaseUrl)
    : openTestStorage(tmp.dir, options.databaseFile);
  const { storage } = test;
  const databaseUrl = test.url;
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    DATABASE_URL: databaseUrl,
    API_KEYS: `${TEST_API_KEY},${OTHER_API_KEY}`,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    PAYMENT_TTL_SECONDS: "1800",
    ...options.env,
  });
  const clock = options.clock ?? manualClock();
  const bus = options.bus ?? createInMemoryBus();
  const app = createApp({
    config,
    repository: storage.repository,
    databaseReady: storage.ready,
    bus,
    clock,
    ids: options.ids ?? randomIds,
    logger: options.logger ?? pino({ level: "silent" }),
    trpcFastPath: options.trpcFastPath,
    simulatedPspSettleMs: options.simulatedPspSettleMs,
    webhookLookup: options.webhookLookup,
  });
  const server = Bun.serve({
    ...SERVE_OPTIONS,
    port: 0,
    hostname: "127.0.0.1",
    fetch: app.server.fetch,
    websocket: app.server.websocket,
  });
  app.setBoundPort(server.port!);
  const url = `http://127.0.0.1:${server.port}`;
  return {
    ...app,
    url,
    /** The storage port itself, for tests that act as another instance would. */
    repository: storage.repository,
    /** SQL both dialects understand, `?` placeholders; integers come back as numbers. */
    query: test.query,
    backend: BACKEND,
    config,
    clock,
    bus,
    databaseUrl,
    async stop() {
      await server.stop(true);
      app.webhooks.stop();
      await app.webhooks.idle();
      app.feed.close();
      await storage.close();
      tmp.cleanup();
    },
  };
}

export type TestApp = ReturnType<typeof startTestApp>;

/**
 * Every piece of bus news an app publishes, each with the payment's state read right after it (what a
 * watcher is told). `settled()` waits for the reads and returns the states in order.
 */
export function recordAnnouncements(app: TestApp) {
  const reads: Array<Promise<Payment>> = [];
  const off = app.bus.subscribe((news) => void reads.push(app.service.getByBankPaymentId(news.bankPaymentId)));
  return { settled: () => Promise.all(reads), off };
}

/** Standard Webhooks headers for a body, signed now (or at `at`) with the test secret. */
export function signWebhook(
  body: string,
  options: { id?: string; at?: Date; secret?: string } = {},
): Record<string, string> {
  const id = options.id ?? `msg_${crypto.randomUUID()}`;
  const at = options.at ?? new Date();
  return {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(options.secret ?? TEST_WEBHOOK_SECRET).sign(id, at, body),
  };
}

/** Merchant headers for REST calls. */
export function merchantHeaders(apiKey = TEST_API_KEY, extra: Record<string, string> = {}) {
  return { authorization: `Bearer ${apiKey}`, "content-type": "application/json", ...extra };
}

/** POST /payments through REST; returns status and parsed body. */
export async function restCreate(url: string, value: unknown, headers: Record<string, string> = merchantHeaders()) {
  const res = await fetch(`${url}/payments`, { method: "POST", headers, body: JSON.stringify({ value }) });
  return { status: res.status, body: (await res.json()) as any };
}

/** Signed POST /payments/pix/confirmation; returns status and parsed body. */
export async function restConfirm(
  url: string,
  payload: unknown,
  sign: { id?: string; at?: Date; secret?: string } = {},
) {
  const body = JSON.stringify(payload);
  const res = await fetch(`${url}/payments/pix/confirmation`, {
    method: "POST",
    headers: signWebhook(body, sign),
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** A Pix paying a payment (a wire object), in the BCB callback's shape; `over` changes any field. */
export function pixFor(payment: { bank_payment_id: string; value: number }, over: Partial<Pix> = {}): Pix {
  return {
    endToEndId: newEndToEndId(),
    txid: txidFromUuid(payment.bank_payment_id),
    valor: formatPixAmount(Math.round(payment.value * 100)),
    horario: new Date().toISOString(),
    ...over,
  };
}

/**
 * POST /webhooks/pix with a body (an object is sent as JSON), signed with the test secret, or with
 * `?token=`, or with neither (`auth: "none"`); returns status and parsed body.
 */
export async function sendPixCallback(
  url: string,
  body: unknown,
  auth: { token?: string; sign?: { id?: string; at?: Date; secret?: string } } | "none" = {},
) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const headers =
    auth === "none" || auth.token !== undefined
      ? { "content-type": "application/json" }
      : signWebhook(text, auth.sign ?? {});
  const query = auth !== "none" && auth.token !== undefined ? `?token=${encodeURIComponent(auth.token)}` : "";
  const res = await fetch(`${url}/webhooks/pix${query}`, { method: "POST", headers, body: text });
  return { status: res.status, body: (await res.json()) as any };
}

/** A paid payment (paid by a Pix through the callback unless `by` is "confirmation"); returns its wire object. */
export async function createPaidPayment(url: string, value: number, by: "pix" | "confirmation" = "pix") {
  const payment = (await restCreate(url, value)).body.payment;
  if (by === "confirmation") {
    const confirmed = await restConfirm(url, { bank_payment_id: payment.bank_payment_id, value });
    if (confirmed.status !== 200) throw new Error(`confirmation failed: ${JSON.stringify(confirmed)}`);
  } else {
    const paid = await sendPixCallback(url, { pix: [pixFor(payment)] });
    if (paid.status !== 200) throw new Error(`pix callback failed: ${JSON.stringify(paid)}`);
  }
  const read = await fetch(`${url}/payments/${payment.id}`, { headers: merchantHeaders() });
  return ((await read.json()) as any).payment;
}

/** POST /payments/{id}/refunds; returns status and parsed body. */
export async function restRefund(
  url: string,
  paymentId: number,
  body: unknown,
  headers: Record<string, string> = merchantHeaders(),
) {
  const res = await fetch(`${url}/payments/${paymentId}/refunds`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** GET a merchant route; returns status and parsed body. */
export async function restGet(url: string, path: string, headers: Record<string, string> = merchantHeaders()) {
  const res = await fetch(`${url}${path}`, { headers });
  return { status: res.status, body: (await res.json()) as any };
}

export interface ServerProcess {
  url: string;
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything the process printed so far (stdout then stderr). */
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number>;
}

/**
 * The DATABASE_URL a server process gets: as given on SQLite; on PostgreSQL, a database of the run's
 * cluster for each SQLite path (the same path, the same database), unless the test gave a postgres:// URL.
 */
function processDatabase(given: string | undefined, dir: string): { DATABASE_URL?: string } {
  if (BACKEND === "sqlite" || (given !== undefined && /^postgres(ql)?:/.test(given))) return {};
  return { DATABASE_URL: databaseUrlForProcess(given, dir) };
}

export interface SpawnOptions {
  /** Runs the server under this command, e.g. ["ip", "netns", "exec", ns] to put it on another host. */
  prefix?: string[];
  /** The address the returned url uses (default 127.0.0.1). */
  host?: string;
}

/**
 * Starts `bun src/index.ts` as a real process on port 0 and waits for its "listening" line.
 * cwd defaults to a temp folder so ./data/ of the checkout is never touched.
 */
export async function spawnServer(
  env: Record<string, string>,
  cwd?: string,
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  const dir = cwd ?? tempDir("payments-proc-").dir;
  const proc = Bun.spawn([...(options.prefix ?? []), BUN, join(ROOT, "src/index.ts")], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "test",
      PORT: "0",
      API_KEYS: `${TEST_API_KEY},${OTHER_API_KEY}`,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      LOG_LEVEL: "warn",
      ...env,
      ...processDatabase(env.DATABASE_URL, dir),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, into: (s: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) into(decoder.decode(chunk, { stream: true }));
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>, (s) => (out += s));
  void pump(proc.stderr as ReadableStream<Uint8Array>, (s) => (err += s));
  const deadline = Date.now() + 15_000;
  let port = 0;
  while (Date.now() < deadline) {
    const m = /listening on http:\/\/[^\s]+:(\d+) /.exec(out);
    if (m) {
      port = Number(m[1]);
      break;
    }
    if (proc.exitCode !== null) break;
    await Bun.sleep(20);
  }
  if (!port) {
    proc.kill("SIGKILL");
    throw new Error(`server did not start:\n${out}\n${err}`);
  }
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    proc,
    output: () => out + err,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return await proc.exited;
    },
  };
}

/** A WebSocket test client that keeps every JSON message, and waits for the ones a test expects. */
export interface SocketProbe {
  ws: WebSocket;
  /** Every parsed message so far, in order. */
  messages: any[];
  /** Resolves with the first message (from `from` on) that matches, or rejects after `timeoutMs`. */
  next(match?: (m: any) => boolean, timeoutMs?: number, from?: number): Promise<any>;
  send(message: unknown): void;
  /** Resolves with the close event. */
  closed: Promise<CloseEvent>;
  close(): void;
}

/** Opens a WebSocket (ws:// URL) and resolves once it is open. */
export async function openSocket(url: string, timeoutMs = 5000): Promise<SocketProbe> {
  const ws = new WebSocket(url);
  const messages: any[] = [];
  const waiters = new Set<() => void>();
  ws.addEventListener("message", (e) => {
    messages.push(JSON.parse(String(e.data)));
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", (e) => resolve(e)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WebSocket ${url} did not open`)), timeoutMs);
    ws.addEventListener("open", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error(`WebSocket ${url} failed`));
    });
  });
  let cursor = 0;
  return {
    ws,
    messages,
    closed,
    send: (message) => ws.send(typeof message === "string" ? message : JSON.stringify(message)),
    close: () => ws.close(),
    next(match = () => true, waitMs = 5000, from?: number) {
      const start = from ?? cursor;
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = start; i < messages.length; i++) {
            if (match(messages[i])) {
              cursor = i + 1;
              waiters.delete(check);
              clearTimeout(timer);
              resolve(messages[i]);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching message within ${waitMs} ms; got ${JSON.stringify(messages)}`));
        }, waitMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(25);
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms`);
}

/** The ws:// URL of a server's path. */
export const wsUrl = (httpUrl: string, path: string) => httpUrl.replace(/^http/, "ws") + path;
