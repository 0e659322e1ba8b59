import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { type ServerProcess, spawnServer, TEST_API_KEY, waitUntil } from "./harness.ts";

/**
 * Issue 10, item 7: every oversized body gets 413 with the contract's `{"message"}`, however it is sent, and
 * a client that leaves mid-body is neither logged nor counted as a 500. A real server process (with the
 * Bun.serve options of src/index.ts), spoken to over raw TCP so the test controls every byte.
 */
let server: ServerProcess;
beforeAll(async () => {
  server = await spawnServer({});
});
afterAll(async () => {
  await server.stop();
});

const TOO_LARGE = { message: "Request body too large (limit 64 KiB)" };

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends `head` and then whatever `send` writes; resolves with the first response, or null if none came. */
function rawRequest(head: string, send: (socket: Socket) => void, waitMs = 3000): Promise<RawAnswer | null> {
  return new Promise((resolve) => {
    const socket = connect(server.port, "127.0.0.1");
    let text = "";
    const finish = (answer: RawAnswer | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(parse()), waitMs);
    const parse = (): RawAnswer | null => {
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return null;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? NaN);
      const body = text.slice(end + 4);
      return Number.isNaN(length) || body.length >= length ? { status, body: body.slice(0, length) } : null;
    };
    socket.on("data", (d) => {
      text += d.toString("latin1");
      const answer = parse();
      if (answer) finish(answer);
    });
    socket.on("error", () => {});
    socket.on("close", () => finish(parse()));
    socket.write(head);
    send(socket);
  });
}

const headOf = (path: string, framing: string) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_API_KEY}\r\n` +
  `Content-Type: application/json\r\n${framing}\r\n\r\n`;
const KIB = "x".repeat(1024);
/** `kib` KiB of chunked body, in 16 KiB chunks, and the last chunk. */
const chunked = (kib: number) => (socket: Socket) => {
  for (let sent = 0; sent < kib; sent += 16) socket.write(`4000\r\n${KIB.repeat(16)}\r\n`);
  socket.write("0\r\n\r\n");
};

for (const path of [
  "/payments",
  "/payments/pix/confirmation",
  "/trpc/payments.create",
  "/trpc/payments.create?batch=1",
]) {
  describe(`POST ${path}`, () => {
    test("Content-Length of 300 KB: 413 with the message, at once, before the body is sent", async () => {
      const answer = await rawRequest(headOf(path, "Content-Length: 300000"), (s) => s.write(KIB));
      expect(answer?.status).toBe(413);
      expect(JSON.parse(answer!.body)).toEqual(TOO_LARGE);
    });

    test("a chunked body over 64 KiB: 413 with the message", async () => {
      const answer = await rawRequest(headOf(path, "Transfer-Encoding: chunked"), chunked(100));
      expect(answer?.status).toBe(413);
      expect(JSON.parse(answer!.body)).toEqual(TOO_LARGE);
    });

    test("a chunked body over Bun's former 256 KiB cap: our 413 with the message, not an empty one", async () => {
      const answer = await rawRequest(headOf(path, "Transfer-Encoding: chunked"), chunked(400));
      expect(answer?.status).toBe(413);
      expect(JSON.parse(answer!.body)).toEqual(TOO_LARGE);
    });

    test("a Content-Length far beyond any cap: still our 413", async () => {
      const answer = await rawRequest(headOf(path, "Content-Length: 99999999999"), (s) => s.write(KIB));
      expect(answer?.status).toBe(413);
      expect(JSON.parse(answer!.body)).toEqual(TOO_LARGE);
    });
  });
}

describe("a client that disconnects mid-body", () => {
  test("is not logged as an unexpected error nor counted as a 500", async () => {
    const metricsBefore = await (await fetch(`${server.url}/metrics`)).text();
    for (const path of ["/payments", "/trpc/payments.create", "/payments/pix/confirmation"]) {
      const withLength = await rawRequest(headOf(path, "Content-Length: 1000"), (s) => {
        s.write('{"value":');
        setTimeout(() => s.destroy(), 100);
      });
      expect(withLength).toBeNull();
      const withChunks = await rawRequest(headOf(path, "Transfer-Encoding: chunked"), (s) => {
        s.write(`4000\r\n${KIB.repeat(16)}\r\n`);
        setTimeout(() => s.destroy(), 100);
      });
      expect(withChunks).toBeNull();
    }
    // Each of the six was logged and counted as a 499 (client closed request).
    let metrics = "";
    await waitUntil(
      async () => {
        metrics = await (await fetch(`${server.url}/metrics`)).text();
        return countOf(metrics, "499") - countOf(metricsBefore, "499") >= 6;
      },
      5000,
      "six 499s counted",
    );
    expect(countOf(metrics, "500")).toBe(0);
    expect(server.output()).not.toContain("unexpected error");
    expect(server.output()).not.toContain('"level":50');
  });
});

/** Requests counted under one status in a /metrics text. */
function countOf(metrics: string, status: string): number {
  let n = 0;
  for (const m of metrics.matchAll(new RegExp(`^http_requests_total\\{[^}]*status="${status}"[^}]*\\} (\\d+)`, "gm"))) {
    n += Number(m[1]);
  }
  return n;
}
