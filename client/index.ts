import { createTRPCClient, httpBatchLink, httpLink } from "@trpc/client";
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
    links: [options.batch === false ? httpLink({ url, headers }) : httpBatchLink({ url, headers })],
  });
}

export type PaymentClient = ReturnType<typeof createPaymentClient>;
