import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  wsLink,
} from "@trpc/client";
import { EventSource as EventSourcePolyfill } from "eventsource";
import type { AppRouter } from "../src/trpc/router.ts";

export type { AppRouter };

export interface PaymentClientOptions {
  /** Base URL of the service, e.g. http://localhost:3000 */
  url: string;
  /** A merchant API key (API_KEYS). */
  apiKey: string;
  /** Send each call in its own HTTP request instead of batching calls made in the same tick. */
  batch?: boolean;
  /** Extra headers for every request (e.g. an Idempotency-Key via `headers`). */
  headers?: () => Record<string, string>;
}

/** A tRPC client typed by the server's router: `client.payments.create.mutate({ value: 10 })`. */
export function createPaymentClient(options: PaymentClientOptions) {
  const url = `${options.url.replace(/\/+$/, "")}/trpc`;
  const headers = () => ({ authorization: `Bearer ${options.apiKey}`, ...options.headers?.() });
  return createTRPCClient<AppRouter>({
    // The server refuses batches of more than 10 calls; the link splits bigger ones.
    links: [options.batch === false ? httpLink({ url, headers }) : httpBatchLink({ url, headers, maxItems: 10 })],
  });
}

export type PaymentClient = ReturnType<typeof createPaymentClient>;

export interface PaymentWatchClientOptions {
  /** Base URL of the service, e.g. http://localhost:3000 */
  url: string;
  /** `sse`: Server-Sent Events at /trpc (httpSubscriptionLink); `ws`: a WebSocket at /trpc-ws (wsLink). */
  transport: "sse" | "ws";
}

/**
 * A typed tRPC client for payers: `payments.watch.subscribe({ bank_payment_id }, { onData })` yields
 * `{ id, data }` with `data` the payment object; it needs no API key (the bank_payment_id is the
 * capability). Both transports reconnect by themselves and resume from the last event id.
 * Call `close()` when done, to close the WebSocket.
 */
export function createPaymentWatchClient(options: PaymentWatchClientOptions) {
  const base = options.url.replace(/\/+$/, "");
  const wsClient =
    options.transport === "ws"
      ? createWSClient({
          url: `${base.replace(/^http/, "ws")}/trpc-ws`,
          keepAlive: { enabled: true, intervalMs: 20_000 },
        })
      : null;
  // Browsers have an EventSource; Bun and Node do not, so the `eventsource` package stands in.
  const EventSource =
    (globalThis as unknown as { EventSource?: typeof EventSourcePolyfill }).EventSource ?? EventSourcePolyfill;
  const subscriptions = wsClient
    ? wsLink<AppRouter>({ client: wsClient })
    : httpSubscriptionLink<AppRouter, typeof EventSource>({ url: `${base}/trpc`, EventSource });
  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: subscriptions,
        false: httpLink({ url: `${base}/trpc` }),
      }),
    ],
  });
  return {
    payments: client.payments,
    /** Closes the WebSocket (no-op for SSE; unsubscribe each subscription instead). */
    async close() {
      await wsClient?.close();
    },
  };
}

export type PaymentWatchClient = ReturnType<typeof createPaymentWatchClient>;
