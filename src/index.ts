import { createApp } from "./app.ts";
import { createInMemoryBus } from "./bus/bus.ts";
import { randomIds, systemClock } from "./clock.ts";
import { ConfigError, DEV_SECRETS_FILE, loadConfig, type Config } from "./config.ts";
import { openDatabase, runMigrations } from "./db/client.ts";
import { MAX_BODY_BYTES } from "./http/body.ts";
import { createLogger } from "./log.ts";

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
const db = openDatabase(config.databaseUrl);
runMigrations(db);
const bus = createInMemoryBus();
const app = createApp({ config, db, bus, clock: systemClock, ids: randomIds, logger });

const server = Bun.serve({
  port: config.port,
  hostname: "0.0.0.0",
  // Hard cap well above our own 64 KiB check, which answers with the contract's message.
  maxRequestBodySize: MAX_BODY_BYTES * 4,
  fetch: app.server.fetch,
});
app.setBoundPort(server.port!);

// Printed once, to the terminal of whoever started a development instance; never logged.
if (config.generated.apiKey || config.generated.webhookSecret) {
  console.log(`Development secrets (kept in ${DEV_SECRETS_FILE}):`);
  if (config.generated.apiKey) console.log(`  API key:        ${config.generated.apiKey}`);
  if (config.generated.webhookSecret) console.log(`  Webhook secret: ${config.generated.webhookSecret}`);
}
console.log(`Payment API listening on http://localhost:${server.port} (public URL ${app.publicUrl()})`);

const sweeper = setInterval(() => {
  try {
    app.service.expireDue();
    app.service.prune();
  } catch (err) {
    logger.error({ err }, "expiry sweep failed");
  }
}, config.expirySweepMs);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  clearInterval(sweeper);
  await server.stop();
  await bus.close();
  db.$client.close();
  logger.flush();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
