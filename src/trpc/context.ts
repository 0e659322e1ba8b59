import type { Logger } from "pino";
import type { Webhook } from "standardwebhooks";
import type { PaymentService } from "../payments/service.ts";
import type { PaymentFeed } from "../realtime/feed.ts";

/** What every procedure may use: the app's parts, plus what this one request carried. */
export interface AppDeps {
  service: PaymentService;
  apiKeys: readonly string[];
  webhook: Webhook;
  /** Base of returned links (PUBLIC_URL, or http://localhost:<bound port>). */
  publicUrl: () => string;
  logger: Logger;
  /** Live payment states for `payments.watch`; absent where nothing serves subscriptions. */
  feed?: PaymentFeed;
}

export interface RequestInfo {
  requestId: string;
  headers: Headers;
  /** The raw body, kept for webhook signature checks (the signature covers the exact bytes). */
  rawBody?: string;
}

export type Context = AppDeps & { request: RequestInfo };
