import type { Server } from "bun";
import type { Logger } from "pino";
import { createCountingLog, createRequestLog } from "../log.ts";
import { INTERNAL_ERROR_MESSAGE, MESSAGES } from "../messages.ts";
import { isStorageUnavailable } from "../payments/errors.ts";
import type { WebSocketEndpoints } from "../realtime/websocket.ts";
import type { CreateContext } from "../trpc/context.ts";
import { ClientGone, checkBodyHeaders, HttpError } from "./body.ts";
import type { DocsPage } from "./docs-page.ts";
import { json } from "./json.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { requestIdOf } from "./request-id.ts";
import { handleRest, matchRestRoute } from "./rest.ts";
import { handleTrpc, trpcRouteLabel } from "./trpc-http.ts";

/**
 * Bun.serve options of the HTTP surface, for src/index.ts and the tests alike. Bun's body cap is set far
 * above our own 64 KiB (src/http/body.ts reads bodies as they arrive and stops there), so our 413 with its
 * message answers every oversized body: Bun's own is empty, and on a chunked body it fails the stream
 * mid-read. A body nobody reads is discarded by Bun as it arrives, not kept.
 */
export const SERVE_OPTIONS = {
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  // Above the tRPC SSE ping interval (10 s), so quiet subscription streams stay open.
  idleTimeout: 30,
} as const;

/** Seconds every 503 asks its client to wait (the Retry-After header): storage or capacity, it is temporary. */
export const RETRY_AFTER_SECONDS = 5;

/** Status logged and counted for a client that left mid-request (nginx's "client closed request"). */
export const CLIENT_CLOSED_REQUEST = 499;

/** A response and the route label it is logged and counted under. */
export interface Routed {
  route: string;
  response: Response;
}

/** What the metrics need to hear of each request, and the scrape. */
export interface HttpMetrics {
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  render(): Promise<Response>;
}

/** Everything the HTTP surface serves, built by the composition root (src/app.ts). */
export interface ServerDeps {
  logger: Logger;
  /** The one tRPC context factory, for REST and /trpc. */
  createContext: CreateContext;
  /** The payer-facing pages under /pay/. */
  checkout: { handle(req: Request, url: URL): Promise<Routed> };
  /** The API reference page under /docs. */
  docs: DocsPage;
  /** /ws and /trpc-ws: the upgrade, Bun's handler, closing on shutdown. */
  sockets: Pick<WebSocketEndpoints, "upgrade" | "websocket" | "closeAll">;
  metrics: HttpMetrics;
  /** Base of returned links, for the OpenAPI document's server. */
  publicUrl: () => string;
  /** What /readyz reports: each dependency that must answer. */
  readiness: () => Promise<{ database: boolean; bus: boolean }>;
  /** false sends every /trpc request through tRPC's fetch adapter (tests compare both; see trpc-http.ts). */
  trpcFastPath?: boolean;
}

/**
 * The label of a request that failed before its handler named one: a route template, never the raw path,
 * so the labels of /metrics and the logs stay a bounded set whatever paths are asked for.
 */
function routeLabelOf(path: string): string {
  if (path === "/trpc" || path.startsWith("/trpc/")) return trpcRouteLabel(path);
  if (path.startsWith("/pay/")) return "/pay/*";
  const rest = matchRestRoute("", path);
  return rest && "path" in rest ? rest.path : "unmatched";
}

/** The whole HTTP surface as a value: `fetch` can be called in a test without a socket. */
export function createServer(deps: ServerDeps) {
  const { logger, createContext, checkout, docs, sockets, metrics } = deps;
  const logRequest = createRequestLog(logger);
  // While the disk is full every write fails: one warning of counts every 10 s, not a stack per request.
  const storageLog = createCountingLog(logger, "database unavailable", { level: "warn" });
  /** Logs a failure that is ours: a storage outage is counted, anything else logged with its stack. */
  const reportFailure = (err: unknown, requestId: string) => {
    const domain = err instanceof Error && isStorageUnavailable(err.cause) ? err.cause : err;
    if (isStorageUnavailable(domain))
      storageLog.note((domain.cause as { code?: string } | undefined)?.code ?? "unknown");
    else logger.error({ err, request_id: requestId }, "unexpected error");
  };
  let openApi: string | undefined;
  let inFlight = 0;

  async function route(req: Request, url: URL, requestId: string): Promise<Routed> {
    const path = url.pathname;
    const request = { requestId, headers: req.headers, query: url.searchParams };
    const logInternal = (err: unknown) => reportFailure(err, requestId);

    if (path === "/trpc" || path.startsWith("/trpc/")) {
      checkBodyHeaders(req);
      const response = await handleTrpc(req, url, {
        request,
        createContext,
        onError: (error) => {
          if (error.code === "INTERNAL_SERVER_ERROR") logInternal(error.cause ?? error);
          else if (isStorageUnavailable(error.cause)) logInternal(error);
        },
        fastPath: deps.trpcFastPath,
      });
      return { route: trpcRouteLabel(path), response };
    }

    if (path.startsWith("/pay/")) return await checkout.handle(req, url);

    const rest = matchRestRoute(req.method, path);
    if (rest && "route" in rest) {
      return {
        route: rest.route.path,
        response: await handleRest(rest, req, url, request, createContext, logInternal),
      };
    }
    if (rest) {
      return {
        route: rest.path,
        response: json(405, { message: MESSAGES.methodNotAllowed }, { allow: rest.allowed.join(", ") }),
      };
    }

    if (req.method === "GET" || req.method === "HEAD") {
      switch (path) {
        case "/healthz":
          return { route: path, response: json(200, { status: "ok" }) };
        case "/readyz": {
          const { database, bus } = await deps.readiness();
          const ready = database && bus;
          return {
            route: path,
            response: json(ready ? 200 : 503, { status: ready ? "ready" : "unavailable", database, bus }),
          };
        }
        case "/metrics":
          return { route: path, response: await metrics.render() };
        case "/openapi.json":
          openApi ??= JSON.stringify(buildOpenApiDocument(deps.publicUrl()));
          return { route: path, response: new Response(openApi, { headers: { "content-type": "application/json" } }) };
      }
    }
    const docsPage = docs.handle(req, url);
    if (docsPage) return docsPage;
    return { route: "unmatched", response: json(404, { message: MESSAGES.notFound }) };
  }

  return {
    async fetch(req: Request, server?: Server<unknown>): Promise<Response> {
      const started = performance.now();
      const requestId = requestIdOf(req);
      const url = new URL(req.url);
      let result: Routed;
      inFlight++;
      try {
        const upgraded = sockets.upgrade(req, url, server);
        // After a successful upgrade Bun ignores the returned response; the 101 is for the log and metrics.
        if (upgraded) {
          result = {
            route: url.pathname,
            response: upgraded === true ? new Response(null, { status: 101 }) : upgraded,
          };
        } else result = await route(req, url, requestId);
      } catch (err) {
        if (err instanceof HttpError) {
          result = { route: routeLabelOf(url.pathname), response: json(err.status, { message: err.message }) };
        } else if (err instanceof ClientGone) {
          // Nobody will read this answer; it is logged and counted as what it is, not as our 500.
          result = {
            route: routeLabelOf(url.pathname),
            response: new Response(null, { status: CLIENT_CLOSED_REQUEST }),
          };
        } else if (isStorageUnavailable(err)) {
          reportFailure(err, requestId);
          result = { route: routeLabelOf(url.pathname), response: json(503, { message: MESSAGES.unavailable }) };
        } else {
          logger.error({ err, request_id: requestId }, "unexpected error");
          result = { route: routeLabelOf(url.pathname), response: json(500, { message: INTERNAL_ERROR_MESSAGE }) };
        }
      } finally {
        inFlight--;
      }
      result.response.headers.set("x-request-id", requestId);
      if (result.response.status === 503 && !result.response.headers.has("retry-after")) {
        result.response.headers.set("retry-after", String(RETRY_AFTER_SECONDS));
      }
      logRequest({
        method: req.method,
        route: result.route,
        status: result.response.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        requestId,
      });
      metrics.observeRequest(req.method, result.route, result.response.status, (performance.now() - started) / 1000);
      return result.response;
    },
    /** Bun's `websocket` handler for /ws and /trpc-ws. */
    websocket: sockets.websocket,
    /** Closes every WebSocket, e.g. with 1001 on shutdown. */
    closeSockets(code: number, reason: string) {
      sockets.closeAll(code, reason);
    },
    /** Requests whose response is not ready yet (a streaming response counts until its headers are out). */
    inFlight: () => inFlight,
  };
}
