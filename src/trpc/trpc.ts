import { createHash, timingSafeEqual } from "node:crypto";
import { initTRPC, TRPCError } from "@trpc/server";
import { INTERNAL_ERROR_MESSAGE, MESSAGES } from "../messages.ts";
import { MalformedJson } from "../strict-json.ts";
import type { Context } from "./context.ts";
import { type InputIssue, inputIssues, issuesForBody, toTRPCError } from "./errors.ts";

export interface Meta {
  /** The contract's message for input that fails the schema (e.g. "Invalid value"). */
  invalidInput: string | ((issues: InputIssue[]) => string);
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    isDev: false,
    // SSE subscriptions: a ping every 10 s keeps a quiet stream under Bun's idle timeout (30 s in
    // src/index.ts), and the client reconnects (resuming from its last event id) if pings stop.
    sse: {
      ping: { enabled: true, intervalMs: 10_000 },
      client: { reconnectAfterInactivityMs: 25_000 },
    },
    errorFormatter({ shape, error }) {
      // 5xx bodies never leak internals; input issues stay available to callers as data.
      const issues = inputIssues(error);
      return {
        ...shape,
        message: error.code === "INTERNAL_SERVER_ERROR" ? INTERNAL_ERROR_MESSAGE : shape.message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          ...(error.cause instanceof MalformedJson ? { detail: error.cause.reason } : {}),
          ...(issues ? { issues: issuesForBody(issues) } : {}),
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Maps domain errors and schema failures to the contract's codes and messages. It runs inside each
 * procedure kind's one middleware (below) rather than as a middleware of its own: every tRPC middleware
 * layer copies the call's options and context, which showed up in the profile of a GET.
 */
function contractResult<R extends { ok: boolean }>(result: R, meta: Meta | undefined): R {
  if (result.ok) return result;
  const error = (result as unknown as { error: TRPCError }).error;
  const issues = inputIssues(error);
  if (issues && meta)
    throw new TRPCError({ code: "BAD_REQUEST", message: invalidInput(meta, issues), cause: error.cause });
  throw toTRPCError(error);
}

const invalidInput = (meta: Meta | undefined, issues: InputIssue[]) =>
  meta === undefined
    ? "Invalid input"
    : typeof meta.invalidInput === "function"
      ? meta.invalidInput(issues)
      : meta.invalidInput;

/**
 * /trpc-ws serves subscriptions only: a merchant's calls belong on /trpc, and a socket cannot send what a
 * webhook signature covers. Refused before the key is checked, so keyless calls there cost nothing more.
 */
function refuseOverSocket(ctx: Context, type: string): void {
  if (ctx.request.socket && type !== "subscription") {
    throw new TRPCError({ code: "METHOD_NOT_SUPPORTED", message: MESSAGES.socketsServeSubscriptionsOnly });
  }
}

/** A body that is not strict JSON is the procedure's own invalid input (its 400 message, the reason as detail). */
function refuseMalformedBody(ctx: Context, meta: Meta | undefined): void {
  const malformed = ctx.request.malformedBody;
  if (malformed) throw new TRPCError({ code: "BAD_REQUEST", message: invalidInput(meta, []), cause: malformed });
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Open to anyone holding the capability in its input (payers' pages, health). */
export const publicProcedure = t.procedure.use(async ({ ctx, meta, type, next }) => {
  refuseOverSocket(ctx, type);
  refuseMalformedBody(ctx, meta);
  return contractResult(await next(), meta);
});

/**
 * The merchant a request's `Authorization: Bearer <api key>` names, or null; keys compared in constant time.
 * Exported for the REST routes that must say 401 before 404 without running a procedure.
 */
export function authenticatedMerchant(ctx: Pick<Context, "request" | "apiKeys">): string | null {
  const header = ctx.request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const presented = match ? digest(match[1]!) : null;
  const known = presented && knownKeys(ctx.apiKeys).find((key) => timingSafeEqual(key.digest, presented));
  return known ? known.merchant : null;
}

/** Merchant back ends: `Authorization: Bearer <api key>`. */
export const merchantProcedure = t.procedure.use(async ({ ctx, meta, type, next }) => {
  refuseOverSocket(ctx, type);
  const merchant = authenticatedMerchant(ctx);
  if (merchant === null) throw new TRPCError({ code: "UNAUTHORIZED", message: MESSAGES.unauthorized });
  refuseMalformedBody(ctx, meta);
  return contractResult(await next({ ctx: { merchant } }), meta);
});

const knownKeysCache = new WeakMap<readonly string[], Array<{ digest: Buffer; merchant: string }>>();

/**
 * The configured keys' digests, hashed once per key list rather than on every request. The merchant is
 * known by a hash of its key: it scopes idempotency keys, and never reveals the key.
 */
function knownKeys(apiKeys: readonly string[]) {
  let keys = knownKeysCache.get(apiKeys);
  if (!keys) {
    keys = apiKeys.map((key) => {
      const d = digest(key);
      return { digest: d, merchant: d.toString("hex").slice(0, 16) };
    });
    knownKeysCache.set(apiKeys, keys);
  }
  return keys;
}

/** The webhook-id of a request with a valid Standard Webhooks signature, or null. */
function signedWebhookId(ctx: Context): string | null {
  const h = ctx.request.headers;
  try {
    return ctx.verifyWebhook(ctx.request.rawBody ?? "", {
      "webhook-id": h.get("webhook-id"),
      "webhook-timestamp": h.get("webhook-timestamp"),
      "webhook-signature": h.get("webhook-signature"),
    }).id;
  } catch {
    return null;
  }
}

/** The bank's webhook: Standard Webhooks signature over the raw body, 5-minute timestamp tolerance. */
export const webhookProcedure = t.procedure.use(async ({ ctx, meta, type, next }) => {
  refuseOverSocket(ctx, type);
  const webhookId = signedWebhookId(ctx);
  if (webhookId === null) throw new TRPCError({ code: "UNAUTHORIZED", message: MESSAGES.invalidSignature });
  refuseMalformedBody(ctx, meta);
  return contractResult(await next({ ctx: { webhookId } }), meta);
});

/**
 * The PSP's callback of received Pix (CONTRACT §11): the Standard Webhooks signature as above, or, for a PSP
 * that cannot sign, `?token=<PSP_WEBHOOK_TOKEN>` compared in constant time.
 */
export const pspWebhookProcedure = t.procedure.use(async ({ ctx, meta, type, next }) => {
  refuseOverSocket(ctx, type);
  const token = ctx.request.query?.get("token");
  const byToken =
    token != null && ctx.pspWebhookToken !== undefined && timingSafeEqual(digest(token), digest(ctx.pspWebhookToken));
  if (!byToken && signedWebhookId(ctx) === null) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: MESSAGES.invalidSignature });
  }
  refuseMalformedBody(ctx, meta);
  return contractResult(await next(), meta);
});
