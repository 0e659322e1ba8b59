/** Largest request body accepted anywhere (CONTRACT §4). */
export const MAX_BODY_BYTES = 64 * 1024;
