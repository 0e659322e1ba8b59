import { MAX_BODY_BYTES, MAX_SUBSCRIPTIONS_PER_SOCKET, MAX_TRPC_BATCH_CALLS } from "./limits.ts";

/**
 * The messages of every refusal that is not a domain error (those are in src/payments/errors.ts), for
 * REST, tRPC, the OpenAPI document and the WebSocket paths alike.
 */
export const MESSAGES = {
  notFound: "Not found",
  methodNotAllowed: "Method not allowed",
  bodyTooLarge: `Request body too large (limit ${MAX_BODY_BYTES / 1024} KiB)`,
  unsupportedMediaType: "Content-Type must be application/json",
  unauthorized: "Unauthorized",
  invalidSignature: "Invalid signature",
  internal: "Internal server error",
  unavailable: "Service unavailable",
  expectedUpgrade: "Expected a WebSocket upgrade",
  batchTooLarge: `Too many calls in one batch (at most ${MAX_TRPC_BATCH_CALLS})`,
  tooManySubscriptions: `Too many subscriptions: at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} per connection`,
  tooManyWatches: "Too many subscriptions on this server; try again later",
  tooManyMessages: "Too many messages; slow down",
  tooManySockets: "Too many WebSocket connections; try again later",
  socketsServeSubscriptionsOnly: "Only subscriptions are served on /trpc-ws; use /trpc for queries and mutations",
} as const;

/** The body of every 5xx: never any detail of what went wrong. */
export const INTERNAL_ERROR_MESSAGE = MESSAGES.internal;
