import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { z } from "zod";
import { INTERNAL_ERROR_MESSAGE, MESSAGES } from "../messages.ts";
import {
  confirmPaymentInput,
  createPaymentInput,
  createPaymentOutput,
  getPaymentOutput,
  listPaymentsInput,
  listPaymentsOutput,
  messageOutput,
} from "../payments/schema.ts";
import { MalformedJson } from "../strict-json.ts";
import type { CreateContext, RequestInfo } from "../trpc/context.ts";
import { inputIssues, issuesForBody } from "../trpc/errors.ts";
import { appRouter } from "../trpc/router.ts";
import { authenticatedMerchant, createCallerFactory } from "../trpc/trpc.ts";
import { readJsonBody } from "./body.ts";
import { json } from "./json.ts";

const callerFactory = createCallerFactory(appRouter);
type Caller = ReturnType<typeof callerFactory>;

/** One REST route: how to read its input from HTTP, which procedure it calls, and what to document. */
export interface RestRoute {
  method: "GET" | "POST";
  /** OpenAPI path template. */
  path: string;
  pattern: RegExp;
  procedure: string;
  security: "merchant" | "webhook";
  summary: string;
  input: { body?: z.ZodType; query?: z.ZodType; pathId?: boolean };
  output: z.ZodType;
  /** Error statuses and their messages, for the OpenAPI document. */
  errors: Record<number, string>;
  /** Reads the procedure input from the request; null means "no such resource" (404). */
  read: (
    req: Request,
    url: URL,
    match: RegExpExecArray,
  ) => Promise<{ input: unknown; rawBody?: string; malformed?: MalformedJson } | null>;
  call: (caller: Caller, input: never) => Promise<unknown>;
}

const bodyInput = async (req: Request) => {
  const body = await readJsonBody(req);
  return body.malformed
    ? { input: undefined, rawBody: body.raw, malformed: body.malformed }
    : { input: body.json, rawBody: body.raw };
};

const createRoute = (path: string, summary: string): RestRoute => ({
  method: "POST",
  path,
  pattern: new RegExp(`^${path}$`),
  procedure: "payments.create",
  security: "merchant",
  summary,
  input: { body: createPaymentInput },
  output: createPaymentOutput,
  errors: {
    400: "Invalid value | Invalid description | Invalid metadata | Invalid return_url",
    401: MESSAGES.unauthorized,
    413: MESSAGES.bodyTooLarge,
    415: MESSAGES.unsupportedMediaType,
    422: "Idempotency key reused with different parameters",
    503: MESSAGES.unavailable,
  },
  read: bodyInput,
  call: (c, input: z.input<typeof createPaymentInput>) => c.payments.create(input),
});

/** Every REST route of CONTRACT §4, each calling the same tRPC procedure as /trpc. */
export const restRoutes: RestRoute[] = [
  createRoute("/payments", "Create a PIX payment"),
  createRoute("/payments/pix", "Create a PIX payment (the course app's path)"),
  {
    method: "POST",
    path: "/payments/pix/confirmation",
    pattern: /^\/payments\/pix\/confirmation$/,
    procedure: "payments.confirm",
    security: "webhook",
    summary: "Bank confirmation of a PIX payment (Standard Webhooks signature)",
    input: { body: confirmPaymentInput },
    output: messageOutput,
    errors: {
      400: "Invalid payment data",
      401: MESSAGES.invalidSignature,
      404: "Payment not found",
      409: "Payment expired",
      413: MESSAGES.bodyTooLarge,
      415: MESSAGES.unsupportedMediaType,
      503: MESSAGES.unavailable,
    },
    read: bodyInput,
    call: (c, input: z.input<typeof confirmPaymentInput>) => c.payments.confirm(input),
  },
  {
    method: "GET",
    path: "/payments/{id}",
    pattern: /^\/payments\/([^/]+)$/,
    procedure: "payments.get",
    security: "merchant",
    summary: "Read a payment by id",
    input: { pathId: true },
    output: getPaymentOutput,
    errors: { 401: MESSAGES.unauthorized, 404: "Payment not found" },
    read: async (_req, _url, match) => {
      const id = match[1]!;
      return /^[1-9]\d{0,14}$/.test(id) ? { input: { id: Number(id) } } : null;
    },
    call: (c, input: { id: number }) => c.payments.get(input),
  },
  {
    method: "GET",
    path: "/payments",
    pattern: /^\/payments$/,
    procedure: "payments.list",
    security: "merchant",
    summary: "List payments, newest first, with a cursor",
    input: { query: listPaymentsInput },
    output: listPaymentsOutput,
    errors: { 400: "Invalid status | Invalid limit | Invalid cursor", 401: MESSAGES.unauthorized },
    read: async (_req, url) => {
      const query: Record<string, unknown> = {};
      for (const key of new Set(url.searchParams.keys())) {
        const values = url.searchParams.getAll(key);
        if (values.length === 1 && values[0] === "") continue; // `?status=` means no filter
        const value = values.length === 1 ? values[0]! : values;
        query[key] = key === "limit" && typeof value === "string" && /^\d{1,6}$/.test(value) ? Number(value) : value;
      }
      return { input: query };
    },
    call: (c, input: z.input<typeof listPaymentsInput>) => c.payments.list(input),
  },
];

/** The body and status a failed procedure call answers with; 5xx never carries details. */
export function errorResponse(error: unknown): Response {
  const trpcError = error instanceof TRPCError ? error : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: error });
  const status = getHTTPStatusCodeFromError(trpcError);
  // A 503 says what is unavailable (its message is ours, e.g. "Service unavailable"); other 5xx say nothing.
  if (status >= 500) {
    return json(status, {
      message: trpcError.code === "SERVICE_UNAVAILABLE" ? trpcError.message : INTERNAL_ERROR_MESSAGE,
    });
  }
  const issues = inputIssues(trpcError);
  return json(status, {
    message: trpcError.message,
    ...(trpcError.cause instanceof MalformedJson ? { detail: trpcError.cause.reason } : {}),
    ...(issues ? { issues: issuesForBody(issues) } : {}),
  });
}

export interface RestMatch {
  route: RestRoute;
  match: RegExpExecArray;
}

/**
 * Finds the route for a path; `allowed` lists the methods of a path that exists under another method, and
 * `path` is its template (the label it is counted under, never the raw path).
 */
export function matchRestRoute(
  method: string,
  pathname: string,
): RestMatch | { allowed: string[]; path: string } | null {
  const allowed: string[] = [];
  let template = "";
  for (const route of restRoutes) {
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    // HEAD is GET without the body (Bun sends the headers only).
    if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, match };
    allowed.push(...(route.method === "GET" ? ["GET", "HEAD"] : [route.method]));
    template ||= route.path;
  }
  return allowed.length ? { allowed, path: template } : null;
}

/** Runs one REST request through its tRPC procedure with createCaller, so REST and tRPC cannot disagree. */
export async function handleRest(
  { route, match }: RestMatch,
  req: Request,
  url: URL,
  request: RequestInfo,
  createContext: CreateContext,
  onInternalError: (error: unknown) => void,
): Promise<Response> {
  const read = await route.read(req, url, match);
  if (read === null) {
    // No such resource, but a caller without a key must not learn even that: 401 comes first.
    if (route.security === "merchant" && authenticatedMerchant(createContext(request)) === null) {
      return json(401, { message: MESSAGES.unauthorized });
    }
    return json(404, { message: "Payment not found" });
  }
  const caller = callerFactory(createContext({ ...request, rawBody: read.rawBody, malformedBody: read.malformed }));
  try {
    const result = await route.call(caller, read.input as never);
    return json(200, result);
  } catch (error) {
    if (!(error instanceof TRPCError) || getHTTPStatusCodeFromError(error) >= 500) onInternalError(error);
    return errorResponse(error);
  }
}
