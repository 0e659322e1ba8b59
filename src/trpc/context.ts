import type { PaymentService } from "../payments/service.ts";
import type { PaymentFeed } from "../realtime/feed.ts";
import type { ConnectionWatches, WatchBudget } from "../realtime/watch-budget.ts";
import type { MalformedJson } from "../strict-json.ts";
import type { WebhookVerifier } from "../webhooks/standard-webhooks.ts";

/** What procedures use, and nothing else; built once by the composition root (src/app.ts). */
export interface ProcedureDeps {
  service: PaymentService;
  /** Live payment states for `payments.watch`. */
  feed: PaymentFeed;
  /** Watches per connection and per instance (`payments.watch` takes one for as long as it runs). */
  watchBudget: WatchBudget;
  /** Base of returned links (PUBLIC_URL, or http://localhost:<bound port>). */
  publicUrl: () => string;
  /** Merchant API keys: `Authorization: Bearer <key>`. */
  apiKeys: readonly string[];
  /** Checks the bank's Standard Webhooks signature. */
  verifyWebhook: WebhookVerifier;
}

/** What one request carried. */
export interface RequestInfo {
  requestId: string;
  headers: Headers;
  /** The raw body, kept for webhook signature checks (the signature covers the exact bytes). */
  rawBody?: string;
  /**
   * Set when the text the input came from is not strict JSON (src/strict-json.ts): every procedure then
   * answers its own 400, after its authentication, as for any other invalid input.
   */
  malformedBody?: MalformedJson;
  /**
   * Set for a /trpc-ws connection (one context serves all its calls): its share of the watch budget. Such
   * a connection is served subscriptions only.
   */
  socket?: ConnectionWatches;
}

export type Context = ProcedureDeps & { request: RequestInfo };

/** The one way every transport (REST, /trpc, /trpc-ws) builds a procedure's context. */
export type CreateContext = (request: RequestInfo) => Context;

export function createContextFactory(deps: ProcedureDeps): CreateContext {
  const { service, feed, watchBudget, publicUrl, apiKeys, verifyWebhook } = deps;
  return (request) => ({ service, feed, watchBudget, publicUrl, apiKeys, verifyWebhook, request });
}
