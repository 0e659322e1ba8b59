import type { Server } from "bun";
import type { Bus } from "../bus/bus.ts";
import { createRequestLog } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { type CheckoutOptions, createCheckoutPages } from "../pages/checkout.ts";
import { createRealtimeEndpoints } from "../realtime/endpoints.ts";
import type { AppDeps } from "../trpc/context.ts";
import { appRouter } from "../trpc/router.ts";
import { checkBodyHeaders, HttpError } from "./body.ts";
import { createDocsPage } from "./docs-page.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { handleRest, matchRestRoute } from "./rest.ts";
import { handleTrpc } from "./trpc-http.ts";

export interface ServerDeps extends AppDeps {
  bus: Bus;
  /** True when the database answers a trivial query. */
  databaseReady: () => boolean;
  /** Payer-facing checkout pages under /pay/ (merchant name, clock). */
  checkout: CheckoutOptions;
  /** Prometheus metrics for GET /metrics and the per-request counters. */
  metrics?: Metrics;
  /** false sends every /trpc request through tRPC's fetch adapter (tests compare both; see trpc-http.ts). */
  trpcFastPath?: boolean;
}

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  Response.json(body, { status, headers });

function requestIdOf(req: Request): string {
  const given = req.headers.get("x-request-id");
  return given && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/** The whole HTTP surface as a value: `fetch` can be called in a test without a socket. */
export function createServer(deps: ServerDeps) {
  const { logger } = deps;
  const logRequest = createRequestLog(logger);
  let openApi: string | undefined;
  const checkout = createCheckoutPages({ service: deps.service, ...deps.checkout });
  const docs = createDocsPage();
  // /ws and /trpc-ws, served where there is a feed of live payment states.
  const realtime = deps.feed
    ? createRealtimeEndpoints({
        feed: deps.feed,
        publicUrl: deps.publicUrl,
        logger,
        trpc: {
          router: appRouter,
          createContext: (req) => ({ ...deps, request: { requestId: requestIdOf(req), headers: req.headers } }),
        },
        onSocketsChanged: deps.metrics?.socketsChanged,
        onSubscriptionsChanged: deps.metrics?.subscriptionsChanged,
      })
    : null;
  let inFlight = 0;

  async function route(req: Request, url: URL, requestId: string): Promise<{ route: string; response: Response }> {
    const path = url.pathname;
    const base = { ...deps, request: { requestId, headers: req.headers } };
    const logInternal = (err: unknown) => logger.error({ err, request_id: requestId }, "unexpected error");

    if (path === "/trpc" || path.startsWith("/trpc/")) {
      checkBodyHeaders(req);
      const response = await handleTrpc(
        req,
        url,
        base,
        (error) => {
          if (error.code === "INTERNAL_SERVER_ERROR") logInternal(error.cause ?? error);
        },
        { fastPath: deps.trpcFastPath },
      );
      return { route: `/trpc/${path.slice(6)}`, response };
    }

    if (path.startsWith("/pay/")) return await checkout.handle(req, url);

    const rest = matchRestRoute(req.method, path);
    if (rest && "route" in rest) {
      return { route: rest.route.path, response: await handleRest(rest, req, url, base, logInternal) };
    }
    if (rest) {
      return {
        route: path,
        response: json(405, { message: "Method not allowed" }, { allow: rest.allowed.join(", ") }),
      };
    }

    if (req.method === "GET" || req.method === "HEAD") {
      switch (path) {
        case "/healthz":
          return { route: path, response: json(200, { status: "ok" }) };
        case "/readyz": {
          const database = safe(deps.databaseReady);
          const bus = deps.bus.isConnected();
          const ready = database && bus;
          return {
            route: path,
            response: json(ready ? 200 : 503, { status: ready ? "ready" : "unavailable", database, bus }),
          };
        }
        case "/metrics":
          if (deps.metrics) return { route: path, response: await deps.metrics.render() };
          break;
        case "/openapi.json":
          openApi ??= JSON.stringify(buildOpenApiDocument(deps.publicUrl()));
          return { route: path, response: new Response(openApi, { headers: { "content-type": "application/json" } }) };
      }
    }
    const docsPage = docs.handle(req, url);
    if (docsPage) return docsPage;
    return { route: "unmatched", response: json(404, { message: "Not found" }) };
  }

  return {
    async fetch(req: Request, server?: Server<unknown>): Promise<Response> {
      const started = performance.now();
      const requestId = requestIdOf(req);
      const url = new URL(req.url);
      let result: { route: string; response: Response };
      inFlight++;
      try {
        const upgraded = realtime?.upgrade(req, url, server);
        // After a successful upgrade Bun ignores the returned response; the 101 is for the log and metrics.
        if (upgraded)
          result = {
            route: url.pathname,
            response: upgraded === true ? new Response(null, { status: 101 }) : upgraded,
          };
        else result = await route(req, url, requestId);
      } catch (err) {
        if (err instanceof HttpError) {
          result = { route: url.pathname, response: json(err.status, { message: err.message }) };
        } else {
          logger.error({ err, request_id: requestId }, "unexpected error");
          result = { route: url.pathname, response: json(500, { message: "Internal server error" }) };
        }
      } finally {
        inFlight--;
      }
      result.response.headers.set("x-request-id", requestId);
      logRequest({
        method: req.method,
        route: result.route,
        status: result.response.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        requestId,
      });
      deps.metrics?.observeRequest(
        req.method,
        result.route,
        result.response.status,
        (performance.now() - started) / 1000,
      );
      return result.response;
    },
    /** Bun's `websocket` handler for /ws and /trpc-ws (undefined without a feed). */
    websocket: realtime?.websocket,
    /** Closes every WebSocket, e.g. with 1001 on shutdown. */
    closeSockets(code: number, reason: string) {
      realtime?.closeAll(code, reason);
    },
    /** Requests whose response is not ready yet (a streaming response counts until its headers are out). */
    inFlight: () => inFlight,
  };
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
