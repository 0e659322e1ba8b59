/**
 * Every cap of the service, in one place: the README's "Limits" table lists each with its default and, for
 * those that can be changed, its variable (parsed in src/config.ts).
 */

/** Largest request body accepted anywhere (CONTRACT §4). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Most calls one tRPC batch may carry, over /trpc (HTTP) and in one /trpc-ws frame. */
export const MAX_TRPC_BATCH_CALLS = 10;

/** Payments one socket (/ws or /trpc-ws) may watch at once. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 20;

/** Client frames are small JSON commands; a bigger one closes the socket with 1009. */
export const WS_MAX_FRAME_BYTES = 4 * 1024;

/** Seconds without a frame before Bun closes a socket; it pings shortly before. */
export const WS_IDLE_TIMEOUT_SECONDS = 60;

/** Bytes queued for a slow reader before it is dropped, so it cannot grow memory without bound. */
export const WS_BACKPRESSURE_BYTES = 256 * 1024;

/** QR images kept after their first drawing (LRU; a PNG is ~5 KB, so ~5 MB at most). */
export const QR_CACHE_ENTRIES = 1000;

/** Merchant-webhook attempts in flight at once on one instance, and to one endpoint from one instance. */
export const WEBHOOK_DELIVERY_CONCURRENCY = 32;
export const WEBHOOK_ENDPOINT_CONCURRENCY = 4;

/** Defaults of the caps that can be configured (src/config.ts names their variables). */
export const DEFAULT_LIMITS = {
  /** WS_MAX_CONNECTIONS: open sockets per instance, both paths; upgrades over it get 503. */
  wsMaxConnections: 10_000,
  /** MAX_WATCHES: payments watched at once per instance (/ws subscriptions and tRPC watches, WS and SSE). */
  maxWatches: 50_000,
  /** WS_IDLE_GRACE_MS: a socket watching nothing for this long is closed. */
  wsIdleGraceMs: 10_000,
  /** WS_MESSAGES_PER_SECOND: sustained client messages per socket. */
  wsMessagesPerSecond: 10,
  /** WS_MESSAGE_BURST: client messages a socket may send at once (and refused ones before it is closed). */
  wsMessageBurst: 40,
} as const;
