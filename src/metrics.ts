import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Bus } from "./payments/events.ts";
import type { PaymentStatus } from "./payments/model.ts";

export interface MetricsDeps {
  bus: Bus;
  /** Payments by effective status (the service's count). */
  paymentsByStatus: () => Promise<Record<PaymentStatus, number>>;
  /** Open tRPC `watch` subscriptions (SSE and WebSocket). */
  trpcWatches?: () => number;
  /** The merchant-webhook outbox: pending deliveries and the age of the oldest due one. */
  webhookQueue?: () => Promise<{ pending: number; oldestDueAgeSeconds: number }>;
}

/**
 * Route labels kept. The server labels every request with a route template or "unmatched", so this cap is
 * a last guard: past it, new labels count as "other".
 */
const MAX_ROUTE_LABELS = 200;

/** Methods counted under their own name; any other (a client may send any token) counts as "unmatched". */
const METHOD_LABELS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * The app's Prometheus metrics on a Registry of its own (never the global one), so a test can run
 * several apps in one process. Gauges that mirror state elsewhere are read at scrape time.
 */
export function createMetrics(deps: MetricsDeps) {
  const registry = new Registry();

  const httpRequests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const sockets = new Gauge({
    name: "websocket_connections",
    help: "Open WebSocket connections by path",
    labelNames: ["path"] as const,
    registers: [registry],
  });
  const wsSubscriptions = new Gauge({
    name: "websocket_subscriptions",
    help: "Payments watched over /ws, summed over sockets",
    registers: [registry],
  });
  new Gauge({
    name: "trpc_watch_subscriptions",
    help: "Open tRPC payments.watch subscriptions (SSE and WebSocket)",
    registers: [registry],
    collect() {
      this.set(deps.trpcWatches?.() ?? 0);
    },
  });

  const busCounter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  busCounter("bus_events_published_total", "Payment events this instance published", () => deps.bus.stats().published);
  busCounter(
    "bus_events_received_total",
    "Payment events received from other instances",
    () => deps.bus.stats().received,
  );
  busCounter(
    "bus_publish_failures_total",
    "Publishes that could not reach other instances at first try",
    () => deps.bus.stats().publishFailures,
  );
  new Gauge({
    name: "bus_connected",
    help: "1 when events reach every instance (Redis connected, or the in-process bus)",
    registers: [registry],
    collect() {
      this.set(deps.bus.isConnected() ? 1 : 0);
    },
  });

  new Gauge({
    name: "payments",
    help: "Payments by status",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      let counts: Record<PaymentStatus, number>;
      try {
        counts = await deps.paymentsByStatus();
      } catch {
        return; // a closed or busy database leaves the last values
      }
      for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });

  const webhookDeliveries = new Counter({
    name: "webhook_deliveries_total",
    help: "Merchant webhook delivery attempts by outcome (delivered, retry, failed, disabled)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const webhookAttempts = new Counter({
    name: "webhook_delivery_attempts_total",
    help: "Merchant webhook delivery attempts made by this instance",
    registers: [registry],
  });
  // Both gauges come from one read of the queue per scrape: prom-client collects them at once, so the second
  // finds the first one's read under way and shares it.
  let queueRead: Promise<{ pending: number; oldestDueAgeSeconds: number }> | null = null;
  const readQueue = () => {
    queueRead ??= deps.webhookQueue!().finally(() => {
      queueRead = null;
    });
    return queueRead;
  };
  const webhookGauge = (
    name: string,
    help: string,
    pick: (q: { pending: number; oldestDueAgeSeconds: number }) => number,
  ) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        if (!deps.webhookQueue) return;
        try {
          this.set(pick(await readQueue()));
        } catch {
          // a closed or busy database leaves the last value
        }
      },
    });
  webhookGauge("webhook_queue_depth", "Merchant webhook deliveries pending (all instances)", (q) => q.pending);
  webhookGauge(
    "webhook_oldest_due_seconds",
    "Age of the oldest merchant webhook delivery due and not yet attempted (0: none)",
    (q) => q.oldestDueAgeSeconds,
  );

  // prom-client's default process metrics read /proc in ways Bun does not match (NaN event-loop stats),
  // so the few that matter here are read directly.
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident set size",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: "process_heap_used_bytes",
    help: "JavaScript heap in use",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });

  const routes = new Set<string>();
  const routeLabel = (route: string) => {
    if (routes.has(route)) return route;
    if (routes.size >= MAX_ROUTE_LABELS) return "other";
    routes.add(route);
    return route;
  };

  return {
    registry,
    /** Counts one HTTP request and its latency. */
    observeRequest(method: string, route: string, status: number, seconds: number) {
      const labels = {
        method: METHOD_LABELS.has(method) ? method : "unmatched",
        route: routeLabel(route),
        status: String(status),
      };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    socketsChanged(path: string, delta: number) {
      sockets.inc({ path }, delta);
    },
    subscriptionsChanged(delta: number) {
      wsSubscriptions.inc(delta);
    },
    /** Counts one merchant-webhook delivery attempt and how it ended. */
    webhookAttempt(outcome: "delivered" | "retry" | "failed" | "disabled") {
      webhookAttempts.inc();
      webhookDeliveries.inc({ outcome });
    },
    /** The Prometheus text exposition. */
    async render(): Promise<Response> {
      return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
