import pino, { type Logger } from "pino";

/**
 * Structured JSON logs. Request lines carry only method, route, status, duration and request id: headers,
 * bodies and config are never logged, so no API key or secret can reach a line. The redaction paths are
 * a last guard for top-level fields; wildcard paths ("*.apiKey") are left out on purpose, because pino
 * then runs every value of every line through its redactor, which cost more than the rest of a request log.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const stream = destination ?? pino.destination({ sync: false });
  const logger = pino(
    {
      level,
      base: undefined,
      redact: { paths: ["apiKey", "apiKeys", "webhookSecret", "headers.authorization"], censor: "[redacted]" },
    },
    stream,
  );
  destinations.set(logger, stream);
  return logger;
}

/** The destination each logger of createLogger writes to, kept by us (pino's own reference is private). */
const destinations = new WeakMap<Logger, pino.DestinationStream>();

export interface RequestLogLine {
  method: string;
  route: string;
  status: number;
  durationMs: number;
  requestId: string;
}

/**
 * The one line logged per request, written straight to the logger's destination: exactly the JSON that
 * `logger.info({ method, route, status, duration_ms, request_id }, "request")` writes (test/log.test.ts
 * compares them), without pino's general-purpose serializer, which cost about 8 µs of a 90 µs GET
 * (docs/benchmarks.md). Every string goes through JSON.stringify; the other fields are numbers.
 */
export function createRequestLog(logger: Logger): (line: RequestLogLine) => void {
  const stream = destinations.get(logger);
  if (!stream) {
    // A logger made elsewhere (a test's silent one): its own serializer, same fields.
    return (l) =>
      logger.info(
        { method: l.method, route: l.route, status: l.status, duration_ms: l.durationMs, request_id: l.requestId },
        "request",
      );
  }
  return (l) => {
    if (!logger.isLevelEnabled("info")) return;
    stream.write(
      `{"level":30,"time":${Date.now()},"method":${JSON.stringify(l.method)},"route":${JSON.stringify(l.route)},` +
        `"status":${l.status},"duration_ms":${l.durationMs},"request_id":${JSON.stringify(l.requestId)},"msg":"request"}\n`,
    );
  };
}

/**
 * Counts events that are expected and each too small to log (a client's refused call), and writes one short
 * line of counts at most every `intervalMs`: a flood of bad calls cannot flood the log.
 */
export function createCountingLog(
  logger: Logger,
  msg: string,
  options: { level?: "info" | "warn"; intervalMs?: number } = {},
) {
  const { level = "info", intervalMs = 10_000 } = options;
  let counts: Record<string, number> = {};
  let pending = false;
  let last = Number.NEGATIVE_INFINITY;
  const flush = () => {
    pending = false;
    last = Date.now();
    logger[level]({ counts }, msg);
    counts = {};
  };
  return {
    note(key: string) {
      counts[key] = (counts[key] ?? 0) + 1;
      if (pending) return;
      pending = true;
      setTimeout(flush, Math.max(0, last + intervalMs - Date.now())).unref();
    },
  };
}
