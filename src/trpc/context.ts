import type { MerchantWebhooks } from "../payments/merchant-webhooks.ts";
import type { ReceivedPixService } from "../payments/received-pix.ts";
import type { RefundService } from "../payments/refunds.ts";
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
  /** Received Pix (the PSP's callback) and their ledger. */
  receivedPix: ReceivedPixService;
  refunds: RefundService;
  /** Merchant webhook endpoints and their deliveries (CONTRACT §10). */
  webhooks: MerchantWebhooks;
  /** PSP_WEBHOOK_TOKEN: what a PSP that cannot sign sends as `?token=` instead of a signature. */
  pspWebhookToken: string | undefined;
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
  /** The URL's query, for the PSP webhook's `?token=`. */
  query?: URLSearchParams;
}

export type Context = ProcedureDeps & { request: RequestInfo };

/** The one way every transport (REST, /trpc, /trpc-ws) builds a procedure's context. */
export type CreateContext = (request: RequestInfo) => Context;

export function createContextFactory(deps: ProcedureDeps): CreateContext {
  return (request) => ({ ...deps, request });
}
