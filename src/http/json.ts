import { MESSAGES } from "../messages.ts";

/** A JSON response. */
export function json(status: number, body: unknown, headers?: Record<string, string>): Response {
  return Response.json(body, { status, headers });
}

/** Seconds a client is told to wait before retrying when the database is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

/** 503 for a request that needs a database that cannot answer now. */
export function unavailable(): Response {
  return json(503, { message: MESSAGES.unavailable }, { "retry-after": String(RETRY_AFTER_SECONDS) });
}
