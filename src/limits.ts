/** Largest request body accepted anywhere (CONTRACT §4). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Most calls one tRPC batch may carry, over /trpc (HTTP) and in one /trpc-ws frame. */
export const MAX_TRPC_BATCH_CALLS = 10;
