import { createApp } from "./app.ts";
import { createInMemoryBus } from "./bus/memory.ts";
import { createRedisBus } from "./bus/redis.ts";
import { randomIds, systemClock } from "./clock.ts";
import { type Config, ConfigError, DEV_SECRETS_FILE, loadConfig } from "./config.ts";
import { openStorage } from "./db/open.ts";
import type { Storage } from "./db/storage.ts";
import { MAX_BODY_BYTES } from "./limits.ts";
import { createLogger } from "./log.ts";
import { PaymentError } from "./payments/errors.ts";
import type { Bus } from "./payments/events.ts";

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(config.logLevel);
let storage: Storage;
try {
  storage = await openStorage(config.databaseUrl, { poolSize: config.databasePoolSize });
} catch (err) {
  // One line for whoever starts it: which database, and what it answered (no stack, no password).
  console.error(`Cannot open the database (DATABASE_URL=${redactUrl(config.databaseUrl)}): ${describeError(err)}`);
  process.exit(1);
}
const bus: Bus = config.redisUrl
  ? await createRedisBus({ url: config.redisUrl, logger })
  : createInMemoryBus((err) => logger.error({ err }, "bus listener failed"));
const app = createApp({
  config,
  repository: storage.repository,
  databaseReady: storage.ready,
  bus,
  clock: systemClock,
  ids: randomIds,
  logger,
});

const server = Bun.serve({
  port: config.port,
  hostname: "0.0.0.0",
  // Hard cap well above our own 64 KiB check, which answers with the contract's message.
  maxRequestBodySize: MAX_BODY_BYTES * 4,
  // Above the tRPC SSE ping interval (10 s), so quiet subscription streams stay open.
  idleTimeout: 30,
  fetch: app.server.fetch,
  websocket: app.server.websocket,
});
app.setBoundPort(server.port!);

// Printed once, to the terminal of whoever started a development instance; never logged.
if (config.generated.apiKey || config.generated.webhookSecret) {
  console.log(`Development secrets (kept in ${DEV_SECRETS_FILE}):`);
  if (config.generated.apiKey) console.log(`  API key:        ${config.generated.apiKey}`);
  if (config.generated.webhookSecret) console.log(`  Webhook secret: ${config.generated.webhookSecret}`);
}

let sweeping = false;
let lastSweepWarning = 0;
const sweeper = setInterval(async () => {
  if (sweeping) return; // a long sweep is still under way
  sweeping = true;
  try {
    await app.service.expireDue();
    await app.service.prune();
  } catch (err) {
    // While the database is away this fails every tick; one line every 30 s says so.
    if (!(err instanceof PaymentError && err.code === "STORAGE_UNAVAILABLE"))
      logger.error({ err }, "expiry sweep failed");
    else if (Date.now() - lastSweepWarning > 30_000) {
      lastSweepWarning = Date.now();
      logger.warn("expiry sweep skipped: the database is unavailable");
    }
  } finally {
    sweeping = false;
  }
}, config.expirySweepMs);

/** How often this instance looks for refunds due to be sent to the PSP (new ones are sent at once). */
const REFUND_SEND_INTERVAL_MS = 1000;
// Sends what the refund outbox holds: retries, checks, and what another instance left when it died.
const refundSender = setInterval(() => app.refunds.kick(), REFUND_SEND_INTERVAL_MS);
app.refunds.kick();

/** Longest a shutdown waits for in-flight requests before it cuts what is left. */
const SHUTDOWN_GRACE_MS = 8000;

let stopping = false;
/**
 * Stops accepting, tells WebSocket clients to go elsewhere (1001), lets in-flight requests finish, then
 * ends what is left (SSE streams, whose clients reconnect with their last event id), closes Redis and
 * the database, and exits 0, all within 10 s.
 */
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  const deadline = Date.now() + SHUTDOWN_GRACE_MS;
  // Whatever happens below, the process is gone within 10 s.
  setTimeout(() => process.exit(0), 9500).unref();
  clearInterval(sweeper);
  clearInterval(refundSender);
  const stopped = server.stop(false);
  app.server.closeSockets(1001, "Server shutting down");
  while (app.server.inFlight() > 0 && Date.now() < deadline) await Bun.sleep(10);
  await Promise.race([stopped, Bun.sleep(Math.max(0, Math.min(250, deadline - Date.now())))]);
  await server.stop(true);
  // A refund send under way gets what is left of the grace; one cut short is sent again after its lease.
  await Promise.race([app.refunds.idle(), Bun.sleep(Math.max(0, deadline - Date.now()))]);
  app.feed.close();
  try {
    await bus.close();
  } catch (err) {
    logger.warn({ err }, "closing the bus failed");
  }
  await storage.close();
  logger.flush();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
// Redis and sockets fail in ways that must not take the process down; they are logged instead.
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));

// Printed last, once the signal handlers are in place: whoever waits for this line (a supervisor, the
// tests) may send SIGTERM at once, and before the handlers Bun's default would end the process with 143.
console.log(`Payment API listening on http://localhost:${server.port} (public URL ${app.publicUrl()})`);

/** A URL with its password hidden; anything else as it is. */
function redactUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

function describeError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errno?: unknown };
  const code = [e?.code, e?.errno].filter((c) => typeof c === "string" && c).join(" ");
  const message = typeof e?.message === "string" ? (e.message.split("\n")[0] ?? "") : String(err);
  return code ? `${message} (${code})` : message;
}
