import type { Logger } from "pino";
import type { Clock, Ids } from "./clock.ts";
import type { Config } from "./config.ts";
import { createDocsPage } from "./http/docs-page.ts";
import { requestIdOf } from "./http/request-id.ts";
import { createServer } from "./http/server.ts";
import { MAX_SUBSCRIPTIONS_PER_SOCKET, WEBHOOK_DELIVERY_CONCURRENCY, WEBHOOK_ENDPOINT_CONCURRENCY } from "./limits.ts";
import { createMetrics } from "./metrics.ts";
import { createWebhookSender } from "./outbound/sender.ts";
import { createUrlGuard } from "./outbound/url-guard.ts";
import { createCheckoutPages } from "./pages/checkout.ts";
import { PaymentError } from "./payments/errors.ts";
import type { Bus } from "./payments/events.ts";
import { createMerchantWebhooks, type MerchantWebhooks, type WebhookTransport } from "./payments/merchant-webhooks.ts";
import type { Psp } from "./payments/psp.ts";
import { createReceivedPixService } from "./payments/received-pix.ts";
import { createRefundService, type RefundService } from "./payments/refunds.ts";
import type { PaymentRepository } from "./payments/repository.ts";
import { createPaymentService } from "./payments/service.ts";
import { createWebhookEventRecorder } from "./payments/webhook-events.ts";
import { createApiPixClient } from "./psp/api-pix-client.ts";
import { createSimulatedPsp } from "./psp/simulated.ts";
import { createPaymentFeed } from "./realtime/feed.ts";
import { createWatchBudget } from "./realtime/watch-budget.ts";
import { createWebSocketEndpoints } from "./realtime/websocket.ts";
import { createContextFactory } from "./trpc/context.ts";
import { appRouter } from "./trpc/router.ts";
import { createSecretBox, secretBoxKey } from "./webhooks/secret-box.ts";
import { createWebhookVerifier } from "./webhooks/standard-webhooks.ts";

export interface AppParts {
  config: Config;
  repository: PaymentRepository;
  /** True when the database answers now (for /readyz). */
  databaseReady: () => Promise<boolean>;
  bus: Bus;
  clock: Clock;
  ids: Ids;
  logger: Logger;
  /** See ServerDeps.trpcFastPath; on unless a test turns it off. */
  trpcFastPath?: boolean;
  /** How long the simulated PSP (PSP_API_URL unset, outside production) takes to settle a refund. */
  simulatedPspSettleMs?: number;
  /** How merchant webhooks are sent; the HTTP sender (src/outbound/sender.ts) unless a test gives another. */
  webhookTransport?: WebhookTransport;
  /** Resolves webhook URL hosts for the private-address check; the system resolver unless a test gives one. */
  webhookLookup?: (host: string) => Promise<string[]>;
}

/**
 * Wires the service and every surface (REST, tRPC, WebSockets, pages, metrics) from their parts; no I/O
 * of its own. src/index.ts gives it real storage and a real bus; tests give it the same, on temp files.
 */
export function createApp(parts: AppParts) {
  const { config, bus, clock, ids, logger } = parts;
  let boundPort = config.port;
  const publicUrl = () => config.publicUrl ?? `http://localhost:${boundPort}`;
  const webhookConfig = config.merchantWebhooks;
  const webhookEvents = createWebhookEventRecorder({
    ids,
    publicUrl,
    firstAttemptDelayMs: webhookConfig.retryScheduleMs[0] ?? 0,
  });
  let webhookStorageWarnedAt = 0;
  const webhooks: MerchantWebhooks = createMerchantWebhooks({
    repo: parts.repository,
    clock,
    ids,
    secretBox: createSecretBox(secretBoxKey(webhookConfig.encryptionKey)),
    guard: createUrlGuard({
      allowPrivate: webhookConfig.allowPrivateUrls,
      requireHttps: config.nodeEnv === "production" && !webhookConfig.allowPrivateUrls,
      lookup: parts.webhookLookup,
    }),
    transport: parts.webhookTransport ?? { send: createWebhookSender() },
    retryScheduleMs: webhookConfig.retryScheduleMs,
    retentionMs: webhookConfig.retentionMs,
    concurrency: { total: WEBHOOK_DELIVERY_CONCURRENCY, perEndpoint: WEBHOOK_ENDPOINT_CONCURRENCY },
    // Ids, statuses and short errors only: never a URL (it may carry the merchant's token) or a secret.
    onAttempt: (result, endpointId, outcome) => {
      metrics.webhookAttempt(result);
      if (result !== "delivered") {
        logger.warn(
          { endpoint_id: endpointId, outcome: result, status: outcome.status, error: outcome.error },
          "merchant webhook not delivered",
        );
      }
    },
    onError: (err) => {
      if (!(err instanceof PaymentError && err.code === "STORAGE_UNAVAILABLE")) {
        logger.error({ err }, "merchant webhook dispatcher failed");
      } else if (Date.now() - webhookStorageWarnedAt > 30_000) {
        webhookStorageWarnedAt = Date.now();
        logger.warn("merchant webhook deliveries skipped: the database is unavailable");
      }
    },
  });
  const service = createPaymentService({
    repo: parts.repository,
    clock,
    ids,
    bus,
    ttlSeconds: config.paymentTtlSeconds,
    pix: config.pix,
    allowHttpReturnUrls: config.nodeEnv !== "production",
    webhookEvents,
    onWebhookEvents: webhooks.kick,
    // One JSON line per domain event, with ids only: never an amount's payer, a key or a secret.
    onChange: (change) =>
      logger.info(
        { event: `payment.${change.type}`, payment_id: change.paymentId, bank_payment_id: change.bankPaymentId },
        `payment ${change.type}`,
      ),
  });
  const psp = choosePsp(parts, (report) => refunds.applyPspRefund(report));
  let storageWarnedAt = 0;
  const refunds: RefundService = createRefundService({
    repo: parts.repository,
    clock,
    ids,
    bus,
    psp,
    onError: (err) => {
      // While the database is away every pass fails; one line every 30 s says so.
      if (!(err instanceof PaymentError && err.code === "STORAGE_UNAVAILABLE")) {
        logger.error({ err }, "refund sender failed");
      } else if (Date.now() - storageWarnedAt > 30_000) {
        storageWarnedAt = Date.now();
        logger.warn("refund sends skipped: the database is unavailable");
      }
    },
    onRetry: (refundId, error, delayMs) =>
      logger.warn({ refund_id: refundId, error, retry_in_ms: delayMs }, "refund not sent to the PSP; will retry"),
    webhookEvents,
    onWebhookEvents: webhooks.kick,
  });
  const receivedPix = createReceivedPixService({
    repo: parts.repository,
    clock,
    bus,
    psp,
    refunds,
    onRejected: (endToEndId, why) => logger.warn({ end_to_end_id: endToEndId, why }, "received Pix not applied"),
    webhookEvents,
    onWebhookEvents: webhooks.kick,
  });
  const feed = createPaymentFeed({
    bus,
    service,
    onError: (err) => logger.error({ err }, "payment feed listener failed"),
  });
  const metrics = createMetrics({
    bus,
    paymentsByStatus: service.countByStatus,
    trpcWatches: feed.watchCount,
    webhookQueue: webhooks.queue,
  });
  const watchBudget = createWatchBudget({
    perConnection: MAX_SUBSCRIPTIONS_PER_SOCKET,
    perInstance: config.limits.maxWatches,
  });
  const createContext = createContextFactory({
    service,
    feed,
    watchBudget,
    publicUrl,
    apiKeys: config.apiKeys,
    verifyWebhook: createWebhookVerifier(config.webhookSecret),
    receivedPix,
    refunds,
    webhooks,
    pspWebhookToken: config.pspWebhookToken,
  });
  const sockets = createWebSocketEndpoints({
    feed,
    publicUrl,
    logger,
    trpc: {
      router: appRouter,
      createContext: ({ request, watches }) =>
        createContext({ requestId: requestIdOf(request), headers: request.headers, socket: watches }),
    },
    budget: watchBudget,
    limits: {
      maxConnections: config.limits.wsMaxConnections,
      idleGraceMs: config.limits.wsIdleGraceMs,
      messageRate: { perSecond: config.limits.wsMessagesPerSecond, burst: config.limits.wsMessageBurst },
    },
    onSocketsChanged: metrics.socketsChanged,
    onSubscriptionsChanged: metrics.subscriptionsChanged,
  });
  const server = createServer({
    logger,
    createContext,
    checkout: createCheckoutPages({ service, merchantName: config.pix.merchantName, clock }),
    docs: createDocsPage(),
    sockets,
    metrics,
    publicUrl,
    readiness: async () => ({ database: await parts.databaseReady(), bus: bus.isConnected() }),
    trpcFastPath: parts.trpcFastPath,
  });
  return {
    service,
    receivedPix,
    refunds,
    webhooks,
    psp,
    server,
    feed,
    watchBudget,
    sockets,
    metrics,
    publicUrl,
    /** Tells the app which port Bun bound (PORT=0 picks any free port). */
    setBoundPort(port: number) {
      boundPort = port;
    },
  };
}

export type App = ReturnType<typeof createApp>;

/**
 * The PSP adapter config asks for: the API Pix client when PSP_API_URL is set; otherwise the simulated PSP,
 * except in production, where refunds are then not configured (null).
 */
function choosePsp(parts: AppParts, onSettled: RefundService["applyPspRefund"]): Psp | null {
  const { config, clock, logger } = parts;
  if (config.psp) {
    return createApiPixClient({
      baseUrl: config.psp.apiUrl,
      clientId: config.psp.clientId,
      clientSecret: config.psp.clientSecret,
      tls: config.psp.tls,
      now: clock.now,
    });
  }
  if (config.nodeEnv === "production") return null;
  return createSimulatedPsp({
    settleDelayMs: parts.simulatedPspSettleMs,
    onSettled: async (endToEndId, refund) => {
      await onSettled({
        refundId: refund.id,
        endToEndId,
        status: refund.status,
        reason: refund.reason,
        rtrId: refund.rtrId,
      });
    },
    onError: (err) => logger.error({ err }, "simulated PSP failed to settle a refund"),
  });
}
