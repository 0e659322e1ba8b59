import { EventEmitter } from "node:events";
import type { AnyRouter, inferRouterContext } from "@trpc/server";
import { getWSConnectionHandler } from "@trpc/server/adapters/ws";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import type { ServerWebSocket } from "bun";
import { MAX_TRPC_BATCH_CALLS } from "../limits.ts";
import { MESSAGES } from "../messages.ts";
import { parseStrictJson } from "../strict-json.ts";
import type { ConnectionWatches } from "./watch-budget.ts";

/** Per-socket state of a /trpc-ws connection. */
export interface TrpcSocketData {
  kind: "trpc";
  /** The upgrade request: headers and URL for the context. */
  request: Request;
  /** This socket's share of the watch budget (the context of all its calls carries it). */
  watches: ConnectionWatches;
  connection?: BunSocketAsWs;
}

/** What the context of a /trpc-ws connection is built from. */
export interface TrpcSocketInfo {
  request: Request;
  watches: ConnectionWatches;
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
  createContext: (socket: TrpcSocketInfo) => inferRouterContext<TRouter>;
  onError?: (error: unknown) => void;
}) {
  // The handler is typed for the `ws` package; the shim provides what it uses (send, close, events).
  const onConnection = getWSConnectionHandler({
    router: options.router,
    createContext: ({ res }: { res: unknown }) =>
      options.createContext((res as BunSocketAsWs & { socket: TrpcSocketInfo }).socket),
    onError: ({ error }: { error: unknown }) => options.onError?.(error),
    experimental_encoder: strictJsonEncoder,
    maxBatchSize: MAX_TRPC_BATCH_CALLS,
  } as never) as unknown as (client: unknown, req: unknown) => void;

  return {
    open(ws: ServerWebSocket<TrpcSocketData>) {
      const connection = Object.assign(new BunSocketAsWs(ws), {
        socket: { request: ws.data.request, watches: ws.data.watches },
      });
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
    /**
     * Answers the calls of a frame that was over the socket's message rate, each with its own error (tRPC's
     * protocol has one per call id), without running any of them.
     */
    refuse(ws: ServerWebSocket<TrpcSocketData>, message: string | Buffer) {
      let frame: unknown;
      try {
        frame = JSON.parse(typeof message === "string" ? message : message.toString("utf8"));
      } catch {
        return; // "PING", or not JSON: nothing to answer
      }
      for (const call of Array.isArray(frame) ? frame : [frame]) {
        const { id, jsonrpc, method } = (call ?? {}) as { id?: unknown; jsonrpc?: unknown; method?: unknown };
        if ((typeof id !== "number" && typeof id !== "string") || method === "subscription.stop") continue;
        ws.send(
          JSON.stringify({
            id,
            ...(jsonrpc === "2.0" ? { jsonrpc } : {}),
            error: {
              message: MESSAGES.tooManyMessages,
              code: TRPC_ERROR_CODES_BY_KEY.TOO_MANY_REQUESTS,
              data: { code: "TOO_MANY_REQUESTS", httpStatus: 429 },
            },
          }),
        );
      }
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
