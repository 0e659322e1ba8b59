import pino, { type Logger } from "pino";

/**
 * Structured JSON logs. Request lines carry only method, route, status, duration and request id: headers,
 * bodies and config are never logged, so no API key or secret can reach a line. The redaction paths are
 * a last guard for top-level fields; wildcard paths ("*.apiKey") are left out on purpose, because pino
 * then runs every value of every line through its redactor, which cost more than the rest of a request log.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ["apiKey", "apiKeys", "webhookSecret", "headers.authorization"], censor: "[redacted]" },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
