import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { z } from "zod";
import { INTERNAL_ERROR_MESSAGE, MESSAGES } from "../messages.ts";
import { PaymentError } from "../payments/errors.ts";
import {
  confirmPaymentInput,
  createPaymentInput,
  createPaymentOutput,
  createRefundInput,
  createRefundOutput,
  createWebhookEndpointInput,
  createWebhookEndpointOutput,
  emptyOutput,
  getPaymentOutput,
  getPixOutput,
  getWebhookEndpointOutput,
  listDeliveriesInput,
  listDeliveriesOutput,
  listPaymentsInput,
  listPaymentsOutput,
  listPixInput,
  listPixOutput,
  listRefundsOutput,
  listWebhookEndpointsOutput,
  messageOutput,
  pixNotificationInput,
  retryDeliveryOutput,
  rotateSecretOutput,
} from "../payments/schema.ts";
import { END_TO_END_ID } from "../pix/api-pix.ts";
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
  method: "GET" | "POST" | "DELETE";
  /** OpenAPI path template. */
  path: string;
  pattern: RegExp;
  procedure: string;
  /** `psp`: a Standard Webhooks signature or the `?token=` of PSP_WEBHOOK_TOKEN. */
  security: "merchant" | "webhook" | "psp";
  summary: string;
  /** `pathId`: the integer `{id}` of the path; `pathParam`: a path parameter of another name and schema. */
  input: {
    body?: z.ZodType;
    query?: z.ZodType;
    pathId?: boolean;
    pathParam?: { name: string; schema: Record<string, unknown> };
    /** Several path parameters (e.g. `{id}` and `{delivery_id}`), in path order. */
    pathParams?: Array<{ name: string; schema: Record<string, unknown>; example: string }>;
  };
  output: z.ZodType;
  /** The status of a success; 200 unless given. */
  successStatus?: 200 | 201 | 202 | 204;
  /** The 404 message when `read` finds no such resource in the path; "Payment not found" unless given. */
  notFound?: string;
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

/** Query parameters as a procedure input: an empty one means "not given", `limit` is a number. */
function queryInput(url: URL): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(key);
    if (values.length === 1 && values[0] === "") continue; // `?status=` means no filter
    const value = values.length === 1 ? values[0]! : values;
    query[key] = key === "limit" && typeof value === "string" && /^\d{1,6}$/.test(value) ? Number(value) : value;
  }
  return query;
}

/** A positive integer id from the path, or null (then the route answers 404). */
const pathId = (text: string) => (/^[1-9]\d{0,14}$/.test(text) ? Number(text) : null);

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

/** Endpoint and delivery ids in paths: `we_…` / `wd_…` and letters, digits and `_`; anything else is a 404. */
const WEBHOOK_ID = /^w[ed]_[A-Za-z0-9_]{1,96}$/;
const endpointIdParam = {
  name: "id",
  schema: { type: "string", pattern: "^we_[A-Za-z0-9_]+$" },
  example: "we_4f9c2b7a1d3e4f5a6b7c8d9e0f1a2b3c",
};
const webhookId = (text: string) => (WEBHOOK_ID.test(text) ? text : null);

/** CONTRACT §10: the endpoints API, each route calling a procedure of the tRPC router `webhooks`. */
const webhookRoutes: RestRoute[] = [
  {
    method: "POST",
    path: "/webhook-endpoints",
    pattern: /^\/webhook-endpoints$/,
    procedure: "webhooks.create",
    security: "merchant",
    summary: "Register a merchant webhook endpoint (the secret is shown here only)",
    input: { body: createWebhookEndpointInput },
    output: createWebhookEndpointOutput,
    successStatus: 201,
    errors: {
      400: "Invalid webhook URL | Invalid event type | Invalid description",
      401: MESSAGES.unauthorized,
      409: "Too many webhook endpoints (at most 100)",
      413: MESSAGES.bodyTooLarge,
      415: MESSAGES.unsupportedMediaType,
    },
    read: bodyInput,
    call: (c, input: z.input<typeof createWebhookEndpointInput>) => c.webhooks.create(input),
  },
  {
    method: "GET",
    path: "/webhook-endpoints",
    pattern: /^\/webhook-endpoints$/,
    procedure: "webhooks.list",
    security: "merchant",
    summary: "List the merchant webhook endpoints (never a secret)",
    input: {},
    output: listWebhookEndpointsOutput,
    errors: { 401: MESSAGES.unauthorized },
    read: async () => ({ input: undefined }),
    call: (c) => c.webhooks.list(),
  },
  {
    method: "GET",
    path: "/webhook-endpoints/{id}",
    pattern: /^\/webhook-endpoints\/([^/]+)$/,
    procedure: "webhooks.get",
    security: "merchant",
    summary: "Read a merchant webhook endpoint",
    input: { pathParams: [endpointIdParam] },
    output: getWebhookEndpointOutput,
    notFound: "Webhook endpoint not found",
    errors: { 401: MESSAGES.unauthorized, 404: "Webhook endpoint not found" },
    read: async (_req, _url, match) => {
      const id = webhookId(match[1]!);
      return id === null ? null : { input: { id } };
    },
    call: (c, input: { id: string }) => c.webhooks.get(input),
  },
  {
    method: "DELETE",
    path: "/webhook-endpoints/{id}",
    pattern: /^\/webhook-endpoints\/([^/]+)$/,
    procedure: "webhooks.delete",
    security: "merchant",
    summary: "Delete a merchant webhook endpoint and its deliveries",
    input: { pathParams: [endpointIdParam] },
    output: emptyOutput,
    successStatus: 204,
    notFound: "Webhook endpoint not found",
    errors: { 401: MESSAGES.unauthorized, 404: "Webhook endpoint not found" },
    read: async (_req, _url, match) => {
      const id = webhookId(match[1]!);
      return id === null ? null : { input: { id } };
    },
    call: (c, input: { id: string }) => c.webhooks.delete(input),
  },
  {
    method: "POST",
    path: "/webhook-endpoints/{id}/rotate-secret",
    pattern: /^\/webhook-endpoints\/([^/]+)\/rotate-secret$/,
    procedure: "webhooks.rotateSecret",
    security: "merchant",
    summary: "Rotate an endpoint's secret: for 24 h deliveries carry signatures of both",
    input: { pathParams: [endpointIdParam] },
    output: rotateSecretOutput,
    notFound: "Webhook endpoint not found",
    errors: { 401: MESSAGES.unauthorized, 404: "Webhook endpoint not found" },
    read: async (_req, _url, match) => {
      const id = webhookId(match[1]!);
      return id === null ? null : { input: { id } };
    },
    call: (c, input: { id: string }) => c.webhooks.rotateSecret(input),
  },
  {
    method: "GET",
    path: "/webhook-endpoints/{id}/deliveries",
    pattern: /^\/webhook-endpoints\/([^/]+)\/deliveries$/,
    procedure: "webhooks.deliveries",
    security: "merchant",
    summary: "An endpoint's delivery log, newest first, with a cursor",
    input: { pathParams: [endpointIdParam], query: listDeliveriesInput.omit({ id: true }) },
    output: listDeliveriesOutput,
    notFound: "Webhook endpoint not found",
    errors: {
      400: "Invalid limit | Invalid cursor",
      401: MESSAGES.unauthorized,
      404: "Webhook endpoint not found",
    },
    read: async (_req, url, match) => {
      const id = webhookId(match[1]!);
      if (id === null) return null;
      // The endpoint comes from the path only; an `id` in the query does not choose another.
      const { id: _fromQuery, ...query } = queryInput(url);
      return { input: { ...query, id } };
    },
    call: (c, input: z.input<typeof listDeliveriesInput>) => c.webhooks.deliveries(input),
  },
  {
    method: "POST",
    path: "/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
    pattern: /^\/webhook-endpoints\/([^/]+)\/deliveries\/([^/]+)\/retry$/,
    procedure: "webhooks.retry",
    security: "merchant",
    summary: "Attempt a delivery again, at once",
    input: {
      pathParams: [
        endpointIdParam,
        {
          name: "delivery_id",
          schema: { type: "string", pattern: "^wd_[A-Za-z0-9_]+$" },
          example: "wd_9a8b7c6d5e4f30211f2e3d4c5b6a7980",
        },
      ],
    },
    output: retryDeliveryOutput,
    successStatus: 202,
    notFound: "Delivery not found",
    errors: { 401: MESSAGES.unauthorized, 404: "Webhook endpoint not found | Delivery not found" },
    read: async (_req, _url, match) => {
      const id = webhookId(match[1]!);
      const deliveryId = webhookId(match[2]!);
      if (id === null) return null;
      return deliveryId === null ? null : { input: { id, delivery_id: deliveryId } };
    },
    call: (c, input: { id: string; delivery_id: string }) => c.webhooks.retry(input),
  },
];

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
      const id = pathId(match[1]!);
      return id === null ? null : { input: { id } };
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
    read: async (_req, url) => ({ input: queryInput(url) }),
    call: (c, input: z.input<typeof listPaymentsInput>) => c.payments.list(input),
  },
  {
    method: "POST",
    path: "/payments/{id}/refunds",
    pattern: /^\/payments\/([^/]+)\/refunds$/,
    procedure: "refunds.create",
    security: "merchant",
    summary: "Refund part or all of a paid payment (a BCB devolução)",
    input: { pathId: true, body: createRefundInput.omit({ payment_id: true }) },
    output: createRefundOutput,
    successStatus: 201,
    errors: {
      400: "Invalid value | Invalid reason",
      401: MESSAGES.unauthorized,
      404: "Payment not found",
      409: "Payment not paid | Refund window closed | Payment has no end_to_end_id",
      413: MESSAGES.bodyTooLarge,
      415: MESSAGES.unsupportedMediaType,
      422: "Refund exceeds the refundable amount | Idempotency key reused with different parameters",
      503: "Refunds are not configured",
    },
    read: async (req, _url, match) => {
      const id = pathId(match[1]!);
      if (id === null) return null;
      const read = await readJsonBody(req);
      if (read.malformed) return { input: undefined, rawBody: read.raw, malformed: read.malformed };
      // The payment comes from the path only: a body naming one is refused rather than read either way.
      const body = read.json !== null && typeof read.json === "object" && !Array.isArray(read.json) ? read.json : null;
      if (!body) return { input: read.json, rawBody: read.raw };
      if (Object.hasOwn(body, "payment_id")) {
        return {
          input: undefined,
          rawBody: read.raw,
          malformed: new MalformedJson("payment_id is taken from the path"),
        };
      }
      return { input: { ...body, payment_id: id }, rawBody: read.raw };
    },
    call: (c, input: z.input<typeof createRefundInput>) => c.refunds.create(input),
  },
  {
    method: "GET",
    path: "/payments/{id}/refunds",
    pattern: /^\/payments\/([^/]+)\/refunds$/,
    procedure: "refunds.list",
    security: "merchant",
    summary: "A payment's refunds, newest first",
    input: { pathId: true },
    output: listRefundsOutput,
    errors: { 401: MESSAGES.unauthorized, 404: "Payment not found" },
    read: async (_req, _url, match) => {
      const id = pathId(match[1]!);
      return id === null ? null : { input: { payment_id: id } };
    },
    call: (c, input: { payment_id: number }) => c.refunds.list(input),
  },
  {
    method: "POST",
    path: "/webhooks/pix",
    pattern: /^\/webhooks\/pix$/,
    procedure: "pix.notify",
    security: "psp",
    summary: 'The PSP\'s callback of received Pix (BCB API Pix: POST {webhookUrl}/pix with {"pix": [...]})',
    input: { body: pixNotificationInput },
    output: messageOutput,
    errors: {
      400: "Invalid Pix notification",
      401: MESSAGES.invalidSignature,
      413: MESSAGES.bodyTooLarge,
      415: MESSAGES.unsupportedMediaType,
      503: "Pix could not be verified with the PSP",
    },
    read: bodyInput,
    call: (c, input: z.input<typeof pixNotificationInput>) => c.pix.notify(input),
  },
  {
    method: "GET",
    path: "/pix",
    pattern: /^\/pix$/,
    procedure: "pix.list",
    security: "merchant",
    summary: "The received-Pix ledger, newest first, with a cursor",
    input: { query: listPixInput },
    output: listPixOutput,
    errors: { 400: "Invalid status | Invalid limit | Invalid cursor", 401: MESSAGES.unauthorized },
    read: async (_req, url) => ({ input: queryInput(url) }),
    call: (c, input: z.input<typeof listPixInput>) => c.pix.list(input),
  },
  {
    method: "GET",
    path: "/pix/{end_to_end_id}",
    pattern: /^\/pix\/([^/]+)$/,
    procedure: "pix.get",
    security: "merchant",
    summary: "One received Pix by its endToEndId",
    input: { pathParam: { name: "end_to_end_id", schema: { type: "string", pattern: END_TO_END_ID.source } } },
    output: getPixOutput,
    notFound: "Pix not found",
    errors: { 401: MESSAGES.unauthorized, 404: "Pix not found" },
    read: async (_req, _url, match) => (END_TO_END_ID.test(match[1]!) ? { input: { end_to_end_id: match[1]! } } : null),
    call: (c, input: { end_to_end_id: string }) => c.pix.get(input),
  },
  ...webhookRoutes,
];

/** The body and status a failed procedure call answers with; 5xx never carries details. */
export function errorResponse(error: unknown): Response {
  const trpcError = error instanceof TRPCError ? error : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: error });
  const status = getHTTPStatusCodeFromError(trpcError);
  // A 503 of the domain's own (refunds not configured, a PSP that did not answer) says which; storage's and any
  // other 5xx say nothing more than "Service unavailable" / "Internal server error".
  const own = trpcError.cause instanceof PaymentError && trpcError.cause.code !== "STORAGE_UNAVAILABLE";
  if (status >= 500) {
    const message = own ? trpcError.message : status === 503 ? MESSAGES.unavailable : INTERNAL_ERROR_MESSAGE;
    return json(status, { message });
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
    return json(404, { message: route.notFound ?? "Payment not found" });
  }
  const caller = callerFactory(createContext({ ...request, rawBody: read.rawBody, malformedBody: read.malformed }));
  try {
    const result = await route.call(caller, read.input as never);
    if (route.successStatus === 204) return new Response(null, { status: 204 });
    return json(route.successStatus ?? 200, result);
  } catch (error) {
    if (!(error instanceof TRPCError) || getHTTPStatusCodeFromError(error) >= 500) onInternalError(error);
    return errorResponse(error);
  }
}
