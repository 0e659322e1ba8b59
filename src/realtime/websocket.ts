import type { AnyRouter, inferRouterContext } from "@trpc/server";
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Logger } from "pino";
import { MESSAGES } from "../messages.ts";
import type { PaymentFeed } from "./feed.ts";
import { createPaymentSockets, type PaymentSocketData } from "./payment-sockets.ts";
import { createTrpcSocketHandler, type TrpcSocketData } from "./trpc-ws.ts";

export type SocketData = PaymentSocketData | TrpcSocketData;

/** The WebSocket paths: the /ws protocol of CONTRACT §6 and tRPC's wsLink protocol. */
export const PAYMENTS_WS_PATH = "/ws";
export const TRPC_WS_PATH = "/trpc-ws";

/** Limits of every socket (both paths share Bun's one `websocket` handler). */
export const SOCKET_LIMITS = {
  /** Client frames are small JSON commands; a bigger one closes the socket with 1009. */
  maxPayloadLength: 4 * 1024,
  /** Seconds; Bun pings an idle client shortly before, and closes one that does not answer. */
  idleTimeout: 60,
  /** Bytes queued for a slow reader before it is dropped, so it cannot grow memory without bound. */
  backpressureLimit: 256 * 1024,
  maxSubscriptionsPerSocket: 20,
};

export interface WebSocketEndpointsDeps<TRouter extends AnyRouter> {
  feed: PaymentFeed;
  publicUrl: () => string;
  logger: Logger;
  trpc: { router: TRouter; createContext: (request: Request) => inferRouterContext<TRouter> };
  /** Metric hooks (open sockets by path, subscriptions). */
  onSocketsChanged?: (path: string, delta: number) => void;
  onSubscriptionsChanged?: (delta: number) => void;
}

/** Upgrades /ws and /trpc-ws requests and serves them on Bun's own WebSocket handler. */
export function createWebSocketEndpoints<TRouter extends AnyRouter>(deps: WebSocketEndpointsDeps<TRouter>) {
  const open = new Set<ServerWebSocket<SocketData>>();
  const payments = createPaymentSockets({
    feed: deps.feed,
    publicUrl: deps.publicUrl,
    logger: deps.logger,
    maxSubscriptions: SOCKET_LIMITS.maxSubscriptionsPerSocket,
    onSubscriptionsChanged: deps.onSubscriptionsChanged,
  });
  const trpc = createTrpcSocketHandler({
    router: deps.trpc.router,
    createContext: deps.trpc.createContext,
    onError: (err) => deps.logger.warn({ err }, "trpc websocket error"),
  });
  const pathOf = (ws: ServerWebSocket<SocketData>) => (ws.data.kind === "payments" ? PAYMENTS_WS_PATH : TRPC_WS_PATH);

  const websocket: WebSocketHandler<SocketData> = {
    maxPayloadLength: SOCKET_LIMITS.maxPayloadLength,
    idleTimeout: SOCKET_LIMITS.idleTimeout,
    sendPings: true,
    backpressureLimit: SOCKET_LIMITS.backpressureLimit,
    closeOnBackpressureLimit: true,
    publishToSelf: false,
    open(ws) {
      open.add(ws);
      deps.onSocketsChanged?.(pathOf(ws), 1);
      if (ws.data.kind === "payments") payments.open(ws as ServerWebSocket<PaymentSocketData>);
      else trpc.open(ws as ServerWebSocket<TrpcSocketData>);
    },
    message(ws, message) {
      if (ws.data.kind === "payments") payments.message(ws as ServerWebSocket<PaymentSocketData>, message);
      else trpc.message(ws as ServerWebSocket<TrpcSocketData>, message);
    },
    close(ws, code, reason) {
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
      payments.attach(server);
      const data: SocketData =
        url.pathname === PAYMENTS_WS_PATH
          ? { kind: "payments", watching: new Set(), initial: url.searchParams.get("bank_payment_id") }
          : { kind: "trpc", request: req };
      return (server as Server<SocketData>).upgrade(req, { data })
        ? true
        : notUpgraded(400, "WebSocket upgrade failed");
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
