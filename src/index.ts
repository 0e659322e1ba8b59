import { createApp } from "./app.ts";
import { createInMemoryBus } from "./bus/memory.ts";
import { createRedisBus } from "./bus/redis.ts";
import { randomIds, systemClock } from "./clock.ts";
import { type Config, ConfigError, DEV_SECRETS_FILE, loadConfig } from "./config.ts";
import { describeError, openStorage, redactDatabaseUrl } from "./db/open.ts";
import type { Storage } from "./db/storage.ts";
import { SERVE_OPTIONS } from "./http/server.ts";
import { createCountingLog, createLogger } from "./log.ts";
import { isStorageUnavailable } from "./payments/errors.ts";
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
  // A folder that cannot be created, a read-only file or disk: one line that says so, not a stack trace.
  console.error(`Cannot open the database ${redactDatabaseUrl(config.databaseUrl)}: ${describeError(err)}`);
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
  ...SERVE_OPTIONS,
  port: config.port,
  hostname: config.host,
  fetch: app.server.fetch,
  websocket: app.server.websocket,
});
app.setBoundPort(server.port!);

// Printed at every start to the terminal of whoever started a development instance (so a restart shows them
// again); never logged. Production never generates secrets, so it never prints any.
if (config.generated.apiKey || config.generated.webhookSecret) {
  console.log(`Development secrets (kept in ${DEV_SECRETS_FILE}):`);
  if (config.generated.apiKey) console.log(`  API key:        ${config.generated.apiKey}`);
  if (config.generated.webhookSecret) console.log(`  Webhook secret: ${config.generated.webhookSecret}`);
}

let sweeping = false;
// While the database is unavailable every sweep with payments due fails: counted, not a stack a second.
const sweepOutages = createCountingLog(logger, "expiry sweep: database unavailable", { level: "warn" });
const sweeper = setInterval(async () => {
  if (sweeping) return; // a long sweep is still under way
  sweeping = true;
  try {
    await app.service.expireDue();
    await app.service.prune();
    await app.webhooks.prune();
  } catch (err) {
    if (isStorageUnavailable(err)) sweepOutages.note(String((err.cause as { code?: unknown })?.code ?? "unknown"));
    else logger.error({ err }, "expiry sweep failed");
  } finally {
    sweeping = false;
  }
}, config.expirySweepMs);

/** How often this instance looks for refunds due to be sent to the PSP (new ones are sent at once). */
const REFUND_SEND_INTERVAL_MS = 1000;
// Sends what the refund outbox holds: retries, checks, and what another instance left when it died.
const refundSender = setInterval(() => app.refunds.kick(), REFUND_SEND_INTERVAL_MS);
app.refunds.kick();

/** How often this instance looks for merchant webhooks due (its own changes wake it at once). */
const WEBHOOK_DISPATCH_INTERVAL_MS = 1000;
// Retries, and what other instances queued or a dead instance left under a lease that ran out.
const webhookDispatcher = setInterval(() => app.webhooks.kick(), WEBHOOK_DISPATCH_INTERVAL_MS);
app.webhooks.kick();

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
  clearInterval(webhookDispatcher);
  app.webhooks.stop();
  const stopped = server.stop(false);
  app.server.closeSockets(1001, "Server shutting down");
  while (app.server.inFlight() > 0 && Date.now() < deadline) await Bun.sleep(10);
  await Promise.race([stopped, Bun.sleep(Math.max(0, Math.min(250, deadline - Date.now())))]);
  await server.stop(true);
  // A refund send under way gets what is left of the grace; one cut short is sent again after its lease.
  // So does a merchant webhook attempt; one cut short is attempted again after its lease (same webhook-id).
  await Promise.race([
    Promise.all([app.refunds.idle(), app.webhooks.idle()]),
    Bun.sleep(Math.max(0, deadline - Date.now())),
  ]);
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
const LOCAL_HOSTS = ["0.0.0.0", "::", "127.0.0.1", "::1", "localhost"];
const shownHost = LOCAL_HOSTS.includes(config.host)
  ? "localhost"
  : config.host.includes(":")
    ? `[${config.host}]`
    : config.host;
console.log(
  `Payment API listening on http://${shownHost}:${server.port} (HOST ${config.host}, public URL ${app.publicUrl()})`,
);
