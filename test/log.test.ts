import { describe, expect, test } from "bun:test";
import { createLogger, createRequestLog } from "../src/log.ts";

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

describe("request log line", () => {
  const cases = [
    {
      method: "GET",
      route: "/payments/{id}",
      status: 200,
      durationMs: 0.05,
      requestId: "5da98850-6d5c-4956-aac4-76503f09edef",
    },
    { method: "POST", route: "/payments", status: 413, durationMs: 12.34, requestId: "req-abc-123" },
    // A 405's route is the client's path: quotes, backslashes and control characters stay valid JSON.
    { method: "PATCH", route: '/x"y\\z\n\u0001', status: 405, durationMs: 1, requestId: "a:b.c_d" },
  ];

  test('is the same JSON pino writes for logger.info(fields, "request")', () => {
    const ours = capture();
    const theirs = capture();
    const log = createRequestLog(createLogger("info", ours.stream));
    const pinoLogger = createLogger("info", theirs.stream);
    for (const c of cases) {
      log(c);
      pinoLogger.info(
        { method: c.method, route: c.route, status: c.status, duration_ms: c.durationMs, request_id: c.requestId },
        "request",
      );
    }
    expect(ours.lines.length).toBe(cases.length);
    const withoutTime = (line: string) => line.replace(/"time":\d+,/, '"time":0,');
    expect(ours.lines.map(withoutTime)).toEqual(theirs.lines.map(withoutTime));
    for (const line of ours.lines) expect(line.endsWith("}\n")).toBe(true);
  });

  test("follows the logger's level", () => {
    const out = capture();
    createRequestLog(createLogger("warn", out.stream))(cases[0]!);
    expect(out.lines).toEqual([]);
  });
});
