import { createHash, timingSafeEqual } from "node:crypto";
import { initTRPC, TRPCError } from "@trpc/server";
import type { Context } from "./context.ts";
import { INTERNAL_ERROR_MESSAGE, inputIssues, toTRPCError, type InputIssue } from "./errors.ts";

export interface Meta {
  /** REST route of the procedure, for the OpenAPI document and logs. */
  summary?: string;
  /** The contract's message for input that fails the schema (e.g. "Invalid value"). */
  invalidInput: string | ((issues: InputIssue[]) => string);
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    isDev: false,
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
          ...(issues ? { issues: issues.map((i) => ({ path: i.path.map(String), message: i.message })) } : {}),
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Maps domain errors and schema failures to the contract's codes and messages; installed once. */
const contractErrors = t.middleware(async ({ next, meta }) => {
  const result = await next();
  if (result.ok) return result;
  const issues = inputIssues(result.error);
  if (issues && meta) {
    const message = typeof meta.invalidInput === "function" ? meta.invalidInput(issues) : meta.invalidInput;
    throw new TRPCError({ code: "BAD_REQUEST", message, cause: result.error.cause });
  }
  throw toTRPCError(result.error);
});

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Open to anyone holding the capability in its input (payers' pages, health). */
export const publicProcedure = t.procedure.use(contractErrors);

/** Merchant back ends: `Authorization: Bearer <api key>`, compared in constant time. */
export const merchantProcedure = t.procedure.use(contractErrors).use(({ ctx, next }) => {
  const header = ctx.request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const presented = match ? digest(match[1]!) : null;
  const known = presented && ctx.apiKeys.find((key) => timingSafeEqual(digest(key), presented));
  if (!known) throw new TRPCError({ code: "UNAUTHORIZED", message: "Unauthorized" });
  // The merchant is known by a hash of its key: it scopes idempotency keys, and never reveals the key.
  return next({ ctx: { merchant: digest(known).toString("hex").slice(0, 16) } });
});

/** The bank's webhook: Standard Webhooks signature over the raw body, 5-minute timestamp tolerance. */
export const webhookProcedure = t.procedure.use(contractErrors).use(({ ctx, next }) => {
  const h = ctx.request.headers;
  const headers = {
    "webhook-id": h.get("webhook-id") ?? "",
    "webhook-timestamp": h.get("webhook-timestamp") ?? "",
    "webhook-signature": h.get("webhook-signature") ?? "",
  };
  try {
    ctx.webhook.verify(ctx.request.rawBody ?? "", headers, { jsonParse: false });
  } catch {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "Invalid signature" });
  }
  return next({ ctx: { webhookId: headers["webhook-id"] } });
});
