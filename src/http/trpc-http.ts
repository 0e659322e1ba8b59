import { callTRPCProcedure, getTRPCErrorFromUnknown, type TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { resolveResponse } from "@trpc/server/http";
import { MAX_TRPC_BATCH_CALLS } from "../limits.ts";
import { MESSAGES } from "../messages.ts";
import { ambiguityOf, type MalformedJson } from "../strict-json.ts";
import type { Context, CreateContext, RequestInfo } from "../trpc/context.ts";
import { appRouter } from "../trpc/router.ts";
import { HttpError, readBodyBytes } from "./body.ts";

const ENDPOINT = "/trpc";
// At run time `_def.procedures` is flat, keyed by dotted path (what tRPC's own getProcedureAtPath reads).
const procedures = appRouter._def.procedures as unknown as Record<
  string,
  { _def: { type: "query" | "mutation" | "subscription" } }
>;

/** How many requests took the direct path (tests check that it is really used). */
export const trpcHttpCounts = { fast: 0 };

/**
 * The metrics and log label of a /trpc path: `/trpc/<procedure>` for one the router has, `/trpc/batch` for
 * a batch of them, `unmatched` for anything else, so made-up procedure names cannot grow the label set.
 */
export function trpcRouteLabel(pathname: string): string {
  const names = pathname.slice(ENDPOINT.length + 1).split(",");
  if (!names.every((name) => Object.hasOwn(procedures, name))) return "unmatched";
  return names.length === 1 ? `${ENDPOINT}/${names[0]}` : `${ENDPOINT}/batch`;
}

/** What a /trpc request needs besides itself: the request's own info and the one context factory. */
export interface TrpcHttpDeps {
  request: RequestInfo;
  createContext: CreateContext;
  onError: (error: TRPCError) => void;
  /** false sends every request through tRPC's fetch adapter (tests compare both paths). */
  fastPath?: boolean;
}

/**
 * HTTP tRPC at /trpc. Every POST body is read here, within the 64 KiB limit: tRPC's adapter reads bodies
 * itself with no limit of its own (Bun's cap is set far above ours, SERVE_OPTIONS), and a chunked body
 * declares no length.
 *
 * tRPC's fetch adapter (`fetchRequestHandler` → `resolveResponse`) serves every call but the most common
 * one — one query (`GET ?input=`) or one mutation (`POST`, `Content-Type: application/json`), not batched,
 * not streamed — which is answered directly: the procedure runs through `callTRPCProcedure` (the same
 * middlewares, validation and resolver) and a success is sent as tRPC's envelope `{"result":{"data":…}}`.
 * The router has no data transformer (CONTRACT §7), so the envelope is the data as it is. The adapter's
 * general machinery (content-type handlers, batching, abort signals, response metadata) cost 25–30 µs of a
 * ~145 µs create (docs/benchmarks.md). A failure is handed to `resolveResponse` with the error already
 * known, so every error response, its status and shape, is the library's own. This file reads only what
 * tRPC exports, plus `router._def.procedures` to know a path's procedure type; test/trpc-http.test.ts
 * compares both paths response by response.
 */
export async function handleTrpc(req: Request, url: URL, deps: TrpcHttpDeps): Promise<Response> {
  // Refused before the body is read: 900 unauthenticated calls fit in 17 KB (issue 10).
  if (url.searchParams.has("batch") && batchSize(url.pathname) > MAX_TRPC_BATCH_CALLS) {
    throw new HttpError(400, MESSAGES.batchTooLarge);
  }
  const body = req.method === "POST" ? await readLimitedText(req) : undefined;
  /** The request for tRPC's adapter: its body was read above, so it is given again. */
  const again = () => (body === undefined ? req : rebuild(req, body));
  if (deps.fastPath === false) return library(again(), withStrictInput(deps, body ?? url.searchParams.get("input")));
  const path = url.pathname.slice(ENDPOINT.length + 1);
  const proc = Object.hasOwn(procedures, path) ? procedures[path] : undefined;
  const type = proc?._def.type;
  const simple =
    proc !== undefined &&
    !url.searchParams.has("batch") &&
    !req.headers.has("trpc-accept") &&
    !(req.headers.get("accept") ?? "").includes("application/jsonl") &&
    ((req.method === "POST" && type === "mutation" && contentTypeOf(req) === "application/json") ||
      (req.method === "GET" && type === "query" && (contentTypeOf(req) ?? "application/json") === "application/json"));
  if (!simple) return library(again(), withStrictInput(deps, body ?? url.searchParams.get("input")));
  trpcHttpCounts.fast++;

  // What tRPC's JSON content-type handler reads: the body (POST) or `?input=` (GET); nothing is `undefined`.
  const text = body ?? url.searchParams.get("input") ?? "";
  let input: unknown;
  try {
    input = text ? JSON.parse(text) : undefined;
  } catch {
    return library(again(), deps); // tRPC answers its own parse error
  }
  const malformedBody = text ? (ambiguityOf(text) ?? undefined) : undefined;
  if (malformedBody) input = undefined;
  const ctx = deps.createContext({
    ...deps.request,
    rawBody: req.headers.has("webhook-signature") ? text : undefined,
    malformedBody,
  });
  try {
    const data = await callTRPCProcedure({
      router: appRouter,
      path,
      getRawInput: async () => input,
      ctx,
      type: type!,
      signal: undefined,
      batchIndex: 0,
    });
    return new Response(JSON.stringify({ result: { data } }), {
      status: 200,
      headers: { "content-type": "application/json", vary: "trpc-accept, accept" },
    });
  } catch (cause) {
    return library(again(), deps, getTRPCErrorFromUnknown(cause), ctx);
  }
}

/**
 * The deps with the request marked malformed when the input's text is valid JSON but not strict JSON
 * (src/strict-json.ts); text that is not JSON at all is left to tRPC, which answers its own parse error.
 */
function withStrictInput(deps: TrpcHttpDeps, text: string | null | undefined): TrpcHttpDeps {
  if (!text) return deps;
  let malformedBody: MalformedJson | null;
  try {
    JSON.parse(text);
    malformedBody = ambiguityOf(text);
  } catch {
    return deps;
  }
  return malformedBody ? { ...deps, request: { ...deps.request, malformedBody } } : deps;
}

/** The body as text (as `Request.text()` decodes it), refused with 413 past MAX_BODY_BYTES. */
async function readLimitedText(req: Request): Promise<string> {
  return utf8.decode(await readBodyBytes(req));
}
const utf8 = new TextDecoder();

/** The request again with its body, for the library path after the body was read. */
function rebuild(req: Request, text: string): Request {
  return new Request(req.url, { method: req.method, headers: req.headers, body: text });
}

/** Calls in a batch path (`/trpc/a,b,c`), counted without splitting a long path into strings. */
function batchSize(pathname: string): number {
  let calls = 1;
  for (let i = ENDPOINT.length; i < pathname.length; i++) if (pathname.charCodeAt(i) === 0x2c) calls++;
  return calls;
}

function contentTypeOf(req: Request): string | undefined {
  return req.headers.get("content-type")?.toLowerCase().split(";", 1)[0]?.trim();
}

/**
 * tRPC's fetch adapter. With `error`, the procedure already ran and failed: `resolveResponse` turns that
 * error into its response (status, error shape, errorFormatter, onError) without running anything again.
 */
async function library(req: Request, deps: TrpcHttpDeps, error?: TRPCError, ctx?: Context) {
  const createContext = async (): Promise<Context> =>
    ctx ??
    deps.createContext({
      ...deps.request,
      // Webhook signatures cover the exact body, so keep it when the request is signed.
      rawBody: req.headers.has("webhook-signature") ? await req.clone().text() : undefined,
    });
  const onError = ({ error }: { error: TRPCError }) => deps.onError(error);
  if (error) {
    const url = new URL(req.url);
    return resolveResponse({
      router: appRouter,
      req,
      path: url.pathname.slice(ENDPOINT.length + 1),
      createContext,
      error,
      onError,
    });
  }
  return fetchRequestHandler({
    endpoint: ENDPOINT,
    req,
    router: appRouter,
    createContext,
    onError,
    maxBatchSize: MAX_TRPC_BATCH_CALLS, // checked above already; kept as tRPC's own guard
  });
}
