/**
 * The typed client of the PIX Payment API (CONTRACT §13), published as `@pix-payment-api/client`. Only
 * types come from the server (`import type`), so the built package runs on Bun, Node.js ≥ 20 and in
 * browsers with nothing of the server in it; the server's tests import this same file.
 */
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  TRPCClientError,
  wsLink,
} from "@trpc/client";
import { EventSource as EventSourcePolyfill } from "eventsource";
import type { AppRouter } from "../src/trpc/router.ts";

/**
 * The merchant-webhook events (CONTRACT §10), as types only: `constructWebhookEvent`, which checks a
 * delivery's signature, is in `@pix-payment-api/client/webhooks` (it needs node:crypto; this entry runs in browsers).
 */
export type {
  PaymentWebhookEvent,
  PaymentWebhookEventType,
  RefundWebhookEvent,
  RefundWebhookEventType,
  WebhookEvent,
  WebhookEventType,
  WebhookPayment,
  WebhookRefund,
} from "../src/webhooks/events.ts";
export type { AppRouter };
/** What a failed call rejects with (`err.message` is the service's message, `err.data.httpStatus` its status). */
export { TRPCClientError };

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

/** The merchant's client: `client.payments.create.mutate({ value: 10 })`, `get`, `list`. */
export type PaymentClient = TRPCClient<AppRouter>;

/** A tRPC client typed by the server's router: `client.payments.create.mutate({ value: 10 })`. */
export function createPaymentClient(options: PaymentClientOptions): PaymentClient {
  const url = `${options.url.replace(/\/+$/, "")}/trpc`;
  const headers = () => ({ authorization: `Bearer ${options.apiKey}`, ...options.headers?.() });
  return createTRPCClient<AppRouter>({
    // The server refuses batches of more than 10 calls; the link splits bigger ones.
    links: [options.batch === false ? httpLink({ url, headers }) : httpBatchLink({ url, headers, maxItems: 10 })],
  });
}

/**
 * A WebSocket class: the runtime's own, or one such as the `ws` package's for runtimes without one
 * (Node.js 20). Any class constructed as `new WebSocket(url, protocols?)` with the browser's API fits.
 */
export type WebSocketImplementation = new (url: string, protocols?: string | string[]) => object;

export interface PaymentWatchClientOptions {
  /** Base URL of the service, e.g. http://localhost:3000 */
  url: string;
  /** `sse`: Server-Sent Events at /trpc (httpSubscriptionLink); `ws`: a WebSocket at /trpc-ws (wsLink). */
  transport: "sse" | "ws";
  /** For `ws` where the runtime has no WebSocket (Node.js 20): e.g. `import WebSocket from "ws"`. */
  WebSocket?: WebSocketImplementation;
}

/** The payer's client: `payments.watch.subscribe(...)`, and `close()` for the WebSocket. */
export interface PaymentWatchClient {
  payments: PaymentClient["payments"];
  /** Closes the WebSocket (no-op for SSE; unsubscribe each subscription instead). */
  close(): Promise<void>;
}

/**
 * A typed tRPC client for payers: `payments.watch.subscribe({ bank_payment_id }, { onData })` yields
 * `{ id, data }` with `data` the payment object (without the merchant's metadata); it needs no API key (the
 * bank_payment_id is the capability). Both transports reconnect by themselves and resume from the last
 * event id. Call `close()` when done, to close the WebSocket.
 */
export function createPaymentWatchClient(options: PaymentWatchClientOptions): PaymentWatchClient {
  const base = options.url.replace(/\/+$/, "");
  let wsClient: ReturnType<typeof createWSClient> | null = null;
  if (options.transport === "ws") {
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketImplementation }).WebSocket;
    if (!WebSocketClass) {
      throw new TypeError(
        'This runtime has no WebSocket (Node.js 20): pass one, e.g. `import WebSocket from "ws"` and ' +
          '`createPaymentWatchClient({ url, transport: "ws", WebSocket })`, or use transport "sse".',
      );
    }
    wsClient = createWSClient({
      url: `${base.replace(/^http/, "ws")}/trpc-ws`,
      // tRPC types the option as the DOM's WebSocket class; ws's class has the same API.
      WebSocket: WebSocketClass as unknown as typeof WebSocket,
      keepAlive: { enabled: true, intervalMs: 20_000 },
    });
  }
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
    async close() {
      await wsClient?.close();
    },
  };
}
