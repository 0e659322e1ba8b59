import type { Logger } from "pino";
import { createClient } from "redis";
import type { Bus } from "../payments/events.ts";
import { BANK_PAYMENT_ID } from "../payments/model.ts";
import { createListenerRegistry, notifyAll } from "./listeners.ts";

export interface RedisBusOptions {
  url: string;
  logger: Logger;
  /** One channel carries every payment change. */
  channel?: string;
  /** Identifies this instance's own messages, which it has already delivered locally. */
  instanceId?: string;
}

/** Publishes that failed while Redis was away, re-sent when it is back; older ones are dropped past this. */
const MAX_UNSENT = 1000;

/** A bus message: `{"origin":"<instance id>","bankPaymentId":"<uuid>"}`; anything else is ignored. */
function parseMessage(raw: string): { origin: string; bankPaymentId: string } | null {
  try {
    const m = JSON.parse(raw) as { origin?: unknown; bankPaymentId?: unknown } | null;
    if (typeof m?.origin !== "string" || typeof m.bankPaymentId !== "string" || !BANK_PAYMENT_ID.test(m.bankPaymentId))
      return null;
    return { origin: m.origin, bankPaymentId: m.bankPaymentId };
  } catch {
    return null;
  }
}

/** Waits between reconnection attempts: quick at first, then once a second, forever. */
const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 1000);

/**
 * Redis pub/sub bus: a publisher connection and a dedicated subscriber connection on one channel.
 * Events go to the other instances through Redis and to this instance's listeners right after (next
 * event-loop turn); this instance ignores its own echo, so no listener hears an event twice. While Redis is away, publishing
 * still tells local listeners and never throws; when the subscriber is back, `onResync` listeners are
 * told to re-read from the database what they may have missed.
 */
export async function createRedisBus(options: RedisBusOptions): Promise<Bus> {
  const { logger } = options;
  const channel = options.channel ?? "payments:changed";
  const instanceId = options.instanceId ?? crypto.randomUUID();
  const registry = createListenerRegistry();
  const { listeners, resyncListeners } = registry;
  const stats = { published: 0, received: 0, publishFailures: 0 };
  const unsent: string[] = [];
  let closing = false;

  const reportListenerError = (err: unknown) => logger.error({ err }, "bus listener failed");

  // Without the offline queue a command fails at once while disconnected, instead of piling up in memory
  // for an outage of unknown length; what failed is kept (bounded) and re-sent on reconnect.
  const publisher = createClient({
    url: options.url,
    disableOfflineQueue: true,
    pingInterval: 2000,
    socket: { reconnectStrategy },
  });
  // Interval PINGs are the publisher's job (a half-open socket shows there); the subscriber only listens.
  const subscriber = publisher.duplicate({ pingInterval: 0 });

  // An 'error' event without a listener would crash the process; Redis going away is expected here.
  let lastErrorLog = 0;
  const onError = (role: string) => (err: Error) => {
    if (Date.now() - lastErrorLog > 5000) {
      lastErrorLog = Date.now();
      logger.warn({ err: err.message, role }, "redis connection error");
    }
  };
  publisher.on("error", onError("publisher"));
  subscriber.on("error", onError("subscriber"));

  const send = async (message: string) => {
    try {
      await publisher.publish(channel, message);
    } catch {
      stats.publishFailures++;
      if (closing) return;
      unsent.push(message);
      if (unsent.length > MAX_UNSENT) unsent.shift();
    }
  };

  publisher.on("ready", () => {
    for (const message of unsent.splice(0)) void send(message);
  });

  const resync = () => notifyAll(resyncListeners, [], reportListenerError);
  let subscribed = false;
  // On a reconnect node-redis emits 'ready' after it has re-sent SUBSCRIBE, so a re-read from the
  // database now cannot miss a message that follows it.
  subscriber.on("ready", () => {
    if (!subscribed) return;
    logger.info("redis subscriber reconnected; resyncing watchers");
    resync();
  });

  // Whoever can PUBLISH on the channel can send anything: what does not parse is dropped, and said at most
  // once every 10 s, so a flood of junk cannot flood the log.
  let malformed = 0;
  let lastMalformedLog = 0;
  const onMessage = (raw: string) => {
    const message = parseMessage(raw);
    if (!message) {
      malformed++;
      if (Date.now() - lastMalformedLog > 10_000) {
        lastMalformedLog = Date.now();
        logger.warn({ dropped: malformed }, "ignored malformed bus messages");
        malformed = 0;
      }
      return;
    }
    if (message.origin === instanceId) return;
    stats.received++;
    notifyAll(listeners, [{ bankPaymentId: message.bankPaymentId }], reportListenerError);
  };

  const connected = Promise.all([
    publisher.connect(),
    subscriber
      .connect()
      .then(() => subscriber.subscribe(channel, onMessage))
      .then(() => {
        subscribed = true;
        // Redis may have come up after this instance started, while others published.
        resync();
      }),
  ]);
  // Start-up does not wait for Redis for ever: /readyz says 503 until it answers, and the clients keep trying.
  connected.catch((err) => logger.error({ err }, "redis connection failed"));
  const firstConnect = await Promise.race([connected.then(() => true), Bun.sleep(3000).then(() => false)]).catch(
    () => false,
  );
  if (!firstConnect) logger.warn({ url: redactUrl(options.url) }, "redis is not answering yet; continuing without it");

  return {
    publish(news) {
      stats.published++;
      // Redis first: node-redis writes its queue on the next setImmediate, and this instance's own
      // listeners run on the one after it, so other instances start their fan-out while this one does
      // its own, instead of after it (with 5,000 local sockets, A's fan-out took ~45 ms; docs/benchmarks.md).
      void send(JSON.stringify({ origin: instanceId, bankPaymentId: news.bankPaymentId }));
      setImmediate(() => notifyAll(listeners, [news], reportListenerError));
    },
    subscribe: registry.subscribe,
    onResync: registry.onResync,
    isConnected: () => publisher.isReady && subscriber.isReady,
    stats: () => ({ ...stats }),
    async close() {
      closing = true;
      registry.clear();
      // close() waits for replies in flight; destroy() does not wait for a Redis that is gone.
      await Promise.all(
        [publisher, subscriber].map(async (client) => {
          if (!client.isOpen) return;
          try {
            await Promise.race([client.close(), Bun.sleep(1000).then(() => Promise.reject(new Error("timeout")))]);
          } catch {
            if (client.isOpen) client.destroy();
          }
        }),
      );
    },
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}
