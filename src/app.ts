import type { Logger } from "pino";
import { Webhook } from "standardwebhooks";
import type { Bus } from "./bus/bus.ts";
import type { Clock, Ids } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";
import { createServer } from "./http/server.ts";
import { createMetrics } from "./metrics.ts";
import { createPaymentRepository } from "./payments/repository.ts";
import { createPaymentService } from "./payments/service.ts";
import { createPaymentFeed } from "./realtime/feed.ts";

export interface AppParts {
  config: Config;
  db: Db;
  bus: Bus;
  clock: Clock;
  ids: Ids;
  logger: Logger;
  /** See ServerDeps.trpcFastPath; on unless a test turns it off. */
  trpcFastPath?: boolean;
}

/** Wires the service and the HTTP surface from their parts; no I/O of its own. */
export function createApp(parts: AppParts) {
  const { config, db, bus, clock, ids, logger } = parts;
  const service = createPaymentService({
    repo: createPaymentRepository(db),
    clock,
    ids,
    bus,
    ttlSeconds: config.paymentTtlSeconds,
    pix: config.pix,
  });
  const feed = createPaymentFeed({
    bus,
    service,
    db,
    onError: (err) => logger.error({ err }, "payment feed listener failed"),
  });
  const metrics = createMetrics({ db, bus, clock, trpcWatches: feed.watchCount });
  let boundPort = config.port;
  const publicUrl = () => config.publicUrl ?? `http://localhost:${boundPort}`;
  const server = createServer({
    service,
    bus,
    logger,
    apiKeys: config.apiKeys,
    webhook: new Webhook(config.webhookSecret),
    publicUrl,
    databaseReady: () => db.$client.query("SELECT 1 AS ok").get() !== null,
    checkout: { merchantName: config.pix.merchantName, clock },
    feed,
    metrics,
    trpcFastPath: parts.trpcFastPath,
  });
  return {
    service,
    server,
    feed,
    metrics,
    publicUrl,
    /** Tells the app which port Bun bound (PORT=0 picks any free port). */
    setBoundPort(port: number) {
      boundPort = port;
    },
  };
}

export type App = ReturnType<typeof createApp>;
