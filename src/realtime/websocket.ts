import { type AnyRouter, type inferRouterContext, TRPCError } from "@trpc/server";
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Logger } from "pino";
import { WS_BACKPRESSURE_BYTES, WS_IDLE_TIMEOUT_SECONDS, WS_MAX_FRAME_BYTES } from "../limits.ts";
import { createCountingLog } from "../log.ts";
import { MESSAGES } from "../messages.ts";
import type { PaymentFeed } from "./feed.ts";
import { createPaymentSockets, type PaymentSocketData } from "./payment-sockets.ts";
import { createMessageBucket, type MessageBucket, type MessageRate } from "./rate-limit.ts";
import { createTrpcSocketHandler, type TrpcSocketData, type TrpcSocketInfo } from "./trpc-ws.ts";
import type { WatchBudget } from "./watch-budget.ts";

/** What every socket carries besides its protocol's state: its message bucket and idle timer. */
interface SocketGuards {
  rate: MessageBucket;
  idleTimer?: ReturnType<typeof setTimeout>;
}

export type SocketData = (PaymentSocketData | TrpcSocketData) & SocketGuards;

/** The WebSocket paths: the /ws protocol of CONTRACT §6 and tRPC's wsLink protocol. */
export const PAYMENTS_WS_PATH = "/ws";
export const TRPC_WS_PATH = "/trpc-ws";

/** Close code for a socket that keeps sending past its message rate (RFC 6455: policy violation). */
export const CLOSE_FLOODING = 1008;

/** The configurable caps of the sockets (src/config.ts; src/limits.ts has the fixed ones). */
export interface SocketLimits {
  /** Open sockets on this instance, both paths; upgrades over it get 503. */
  maxConnections: number;
  /** A socket watching nothing for this long is closed. */
  idleGraceMs: number;
  messageRate: MessageRate;
}

export interface WebSocketEndpointsDeps<TRouter extends AnyRouter> {
  feed: PaymentFeed;
  publicUrl: () => string;
  logger: Logger;
  trpc: { router: TRouter; createContext: (socket: TrpcSocketInfo) => inferRouterContext<TRouter> };
  /** Watches per socket and per instance, shared with tRPC's SSE watches. */
  budget: WatchBudget;
  limits: SocketLimits;
  /** Milliseconds, for the message buckets (tests give their own). */
  now?: () => number;
  /** Metric hooks (open sockets by path, subscriptions). */
  onSocketsChanged?: (path: string, delta: number) => void;
  onSubscriptionsChanged?: (delta: number) => void;
}

/**
 * Upgrades /ws and /trpc-ws requests and serves them on Bun's own WebSocket handler. Every socket is
 * bounded: frames of 4 KiB, a message rate (over it an error, and a socket that keeps flooding is closed
 * with 1008), a share of the watch budget, and a grace to start watching something before it is closed;
 * and the instance holds at most `maxConnections` of them.
 */
export function createWebSocketEndpoints<TRouter extends AnyRouter>(deps: WebSocketEndpointsDeps<TRouter>) {
  const { budget, limits } = deps;
  const now = deps.now ?? (() => performance.now());
  const open = new Set<ServerWebSocket<SocketData>>();
  /** Upgraded sockets not yet closed (counted from the upgrade, before Bun calls `open`). */
  let connections = 0;
  const payments = createPaymentSockets({
    feed: deps.feed,
    publicUrl: deps.publicUrl,
    logger: deps.logger,
    budget,
    onSubscriptionsChanged: deps.onSubscriptionsChanged,
  });
  // A refused call (no key, bad input, unknown payment, over a cap) is the client's business: counted in
  // one short line every 10 s, never a warning with a stack per call (issue 10: 10,001 lines from 400 frames).
  const refusedCalls = createCountingLog(deps.logger, "refused trpc websocket calls");
  const trpc = createTrpcSocketHandler({
    router: deps.trpc.router,
    createContext: deps.trpc.createContext,
    onError: (err) => {
      const code = err instanceof TRPCError ? err.code : "INTERNAL_SERVER_ERROR";
      if (code === "INTERNAL_SERVER_ERROR") deps.logger.error({ err }, "trpc websocket call failed");
      else refusedCalls.note(code);
    },
  });
  const pathOf = (ws: ServerWebSocket<SocketData>) => (ws.data.kind === "payments" ? PAYMENTS_WS_PATH : TRPC_WS_PATH);

  /** Closes the socket once the grace is over if it still watches nothing. */
  const armIdleTimer = (ws: ServerWebSocket<SocketData>) => {
    clearTimeout(ws.data.idleTimer);
    ws.data.idleTimer = setTimeout(() => {
      if (open.has(ws) && ws.data.watches.count === 0) ws.close(1000, "No subscription");
    }, limits.idleGraceMs);
  };

  const websocket: WebSocketHandler<SocketData> = {
    maxPayloadLength: WS_MAX_FRAME_BYTES,
    idleTimeout: WS_IDLE_TIMEOUT_SECONDS,
    sendPings: true,
    backpressureLimit: WS_BACKPRESSURE_BYTES,
    closeOnBackpressureLimit: true,
    publishToSelf: false,
    open(ws) {
      open.add(ws);
      deps.onSocketsChanged?.(pathOf(ws), 1);
      ws.data.watches.onEmpty = () => armIdleTimer(ws);
      armIdleTimer(ws);
      if (ws.data.kind === "payments") payments.open(ws as ServerWebSocket<PaymentSocketData>);
      else trpc.open(ws as ServerWebSocket<TrpcSocketData>);
    },
    message(ws, message) {
      const verdict = ws.data.rate.take();
      if (verdict === "flooding") {
        ws.close(CLOSE_FLOODING, "Too many messages");
        return;
      }
      if (ws.data.kind === "payments") {
        const socket = ws as ServerWebSocket<PaymentSocketData>;
        if (verdict === "refused") payments.refuse(socket);
        else payments.message(socket, message);
      } else {
        const socket = ws as ServerWebSocket<TrpcSocketData>;
        if (verdict === "refused") trpc.refuse(socket, message);
        else trpc.message(socket, message);
      }
    },
    close(ws, code, reason) {
      connections--;
      clearTimeout(ws.data.idleTimer);
      ws.data.watches.onEmpty = undefined;
      if (!open.delete(ws)) return;
      deps.onSocketsChanged?.(pathOf(ws), -1);
      if (ws.data.kind === "payments") payments.close(ws as ServerWebSocket<PaymentSocketData>);
      else trpc.close(ws as ServerWebSocket<TrpcSocketData>, code, reason);
    },
    error(err, ws) {
      deps.logger.error({ err, path: pathOf(ws) }, "websocket handler failed");
    },
  };

  return {
    websocket,
    /**
     * Upgrades the request when its path is a WebSocket path: true when upgraded, a Response when the
     * path is ours but the request cannot be upgraded, null when the path is not ours.
     */
    upgrade(req: Request, url: URL, server: Server<unknown> | undefined): true | Response | null {
      if (url.pathname !== PAYMENTS_WS_PATH && url.pathname !== TRPC_WS_PATH) return null;
      const notUpgraded = (status: number, message: string) => Response.json({ message }, { status });
      if (req.method !== "GET" || req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return notUpgraded(426, MESSAGES.expectedUpgrade);
      }
      if (!server) return notUpgraded(501, "WebSockets are not served here");
      // 503 (with Retry-After, as every 503 of the HTTP surface): other instances may have room.
      if (connections >= limits.maxConnections) return notUpgraded(503, MESSAGES.tooManySockets);
      payments.attach(server);
      const guards = { rate: createMessageBucket(limits.messageRate, now) };
      const watches = budget.connection();
      const data: SocketData =
        url.pathname === PAYMENTS_WS_PATH
          ? {
              kind: "payments",
              watching: new Map(),
              watches,
              initial: url.searchParams.get("bank_payment_id"),
              ...guards,
            }
          : { kind: "trpc", request: req, watches, ...guards };
      if (!(server as Server<SocketData>).upgrade(req, { data })) return notUpgraded(400, "WebSocket upgrade failed");
      connections++;
      return true;
    },
    /** Closes every socket (1001 "going away" on shutdown, so clients reconnect elsewhere). */
    closeAll(code: number, reason: string) {
      for (const ws of open) ws.close(code, reason);
    },
    openSockets: () => open.size,
    topicCount: payments.topicCount,
  };
}

export type WebSocketEndpoints = ReturnType<typeof createWebSocketEndpoints>;
