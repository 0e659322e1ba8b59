import pino, { type Logger } from "pino";

/**
 * Structured JSON logs. Authorization, webhook signatures and anything called a key or secret are
 * redacted by path, and request logs never include headers or bodies in the first place.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ["apiKey", "apiKeys", "webhookSecret", "*.apiKey", "*.apiKeys", "*.webhookSecret", "headers.authorization"],
        censor: "[redacted]",
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
