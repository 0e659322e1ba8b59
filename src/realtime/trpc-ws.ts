import { EventEmitter } from "node:events";
import type { AnyRouter, inferRouterContext } from "@trpc/server";
import { getWSConnectionHandler } from "@trpc/server/adapters/ws";
import type { ServerWebSocket } from "bun";
import { MAX_TRPC_BATCH_CALLS } from "../limits.ts";
import { parseStrictJson } from "../strict-json.ts";

/** Per-socket state of a /trpc-ws connection. */
export interface TrpcSocketData {
  kind: "trpc";
  /** The upgrade request: headers and URL for the context. */
  request: Request;
  connection?: BunSocketAsWs;
}

const OPEN = 1;
const CLOSED = 3;

/**
 * The small part of the `ws` package's WebSocket that tRPC's own connection handler uses, backed by a
 * Bun ServerWebSocket. Reusing @trpc/server's handler (rather than a copy of it) keeps one copy of
 * @trpc/server loaded, so `tracked()` envelopes are recognised.
 */
class BunSocketAsWs extends EventEmitter {
  readyState = OPEN;
  constructor(private readonly ws: ServerWebSocket<TrpcSocketData>) {
    super();
  }
  send(data: string | Uint8Array) {
    if (this.readyState === OPEN) this.ws.send(data);
  }
  close(code?: number, reason?: string) {
    if (this.readyState === OPEN) this.ws.close(code, reason);
  }
  terminate() {
    this.ws.terminate();
  }
  markClosed() {
    this.readyState = CLOSED;
  }
}

/**
 * tRPC's JSON text-frame encoding, read with the one strict reader (duplicate keys and inexact numbers are
 * refused like malformed JSON: tRPC answers PARSE_ERROR).
 */
const strictJsonEncoder = {
  encode: (data: unknown) => JSON.stringify(data),
  decode(data: string | ArrayBuffer | Uint8Array) {
    if (typeof data !== "string") throw new Error("Expected a JSON text frame");
    const parsed = parseStrictJson(data);
    if (!parsed.ok) throw parsed.error;
    return parsed.value;
  },
};

/** Serves a tRPC router over Bun WebSockets (the protocol of `wsLink`). */
export function createTrpcSocketHandler<TRouter extends AnyRouter>(options: {
  router: TRouter;
  createContext: (request: Request) => inferRouterContext<TRouter>;
  onError?: (error: unknown) => void;
}) {
  // The handler is typed for the `ws` package; the shim provides what it uses (send, close, events).
  const onConnection = getWSConnectionHandler({
    router: options.router,
    createContext: ({ res }: { res: unknown }) =>
      options.createContext((res as BunSocketAsWs & { request: Request }).request),
    onError: ({ error }: { error: unknown }) => options.onError?.(error),
    experimental_encoder: strictJsonEncoder,
    maxBatchSize: MAX_TRPC_BATCH_CALLS,
  } as never) as unknown as (client: unknown, req: unknown) => void;

  return {
    open(ws: ServerWebSocket<TrpcSocketData>) {
      const connection = Object.assign(new BunSocketAsWs(ws), { request: ws.data.request });
      ws.data.connection = connection;
      const url = new URL(ws.data.request.url);
      // tRPC reads only the URL (for `connectionParams=1`) and the host from the request.
      const req = { url: url.pathname + url.search, headers: { host: url.host }, method: "GET" };
      onConnection(connection, req);
    },
    message(ws: ServerWebSocket<TrpcSocketData>, message: string | Buffer) {
      const isBinary = typeof message !== "string";
      ws.data.connection?.emit("message", isBinary ? message : Buffer.from(message), isBinary);
    },
    close(ws: ServerWebSocket<TrpcSocketData>, code: number, reason: string) {
      const connection = ws.data.connection;
      if (!connection) return;
      connection.markClosed();
      connection.emit("close", code, reason);
      connection.removeAllListeners();
    },
  };
}
