import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { PaymentError, type PaymentErrorCode } from "../payments/errors.ts";

/** The one mapping from domain errors to tRPC codes (and so HTTP statuses, via tRPC's own table). */
const codeFor: Record<PaymentErrorCode, TRPC_ERROR_CODE_KEY> = {
  INVALID_PAYMENT_DATA: "BAD_REQUEST",
  INVALID_QUERY: "BAD_REQUEST",
  INVALID_RETURN_URL: "BAD_REQUEST",
  PAYMENT_NOT_FOUND: "NOT_FOUND",
  PAYMENT_EXPIRED: "CONFLICT",
  WEBHOOK_ID_REUSED: "CONFLICT",
  IDEMPOTENCY_CONFLICT: "UNPROCESSABLE_CONTENT",
  STORAGE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  PIX_NOT_FOUND: "NOT_FOUND",
  PAYMENT_NOT_PAID: "CONFLICT",
  REFUND_EXCEEDS: "UNPROCESSABLE_CONTENT",
  REFUND_WINDOW_CLOSED: "CONFLICT",
  NO_END_TO_END_ID: "CONFLICT",
  REFUNDS_NOT_CONFIGURED: "SERVICE_UNAVAILABLE",
  PSP_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INVALID_WEBHOOK_URL: "BAD_REQUEST",
  INVALID_EVENT_TYPE: "BAD_REQUEST",
  WEBHOOK_ENDPOINT_NOT_FOUND: "NOT_FOUND",
  DELIVERY_NOT_FOUND: "NOT_FOUND",
  TOO_MANY_WEBHOOK_ENDPOINTS: "CONFLICT",
};

/** Schema issues as tRPC's input parser reports them (zod errors carry an `issues` array). */
export interface InputIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
}

export function inputIssues(error: TRPCError): InputIssue[] | null {
  const cause = error.cause as { issues?: unknown } | undefined;
  return error.code === "BAD_REQUEST" && Array.isArray(cause?.issues) ? (cause.issues as InputIssue[]) : null;
}

/** Which field failed and why, as error bodies carry it (`issues`), for REST and tRPC alike. */
export function issuesForBody(issues: InputIssue[]): Array<{ path: string[]; message: string }> {
  return issues.map((i) => ({ path: i.path.map(String), message: i.message }));
}

/** Turns a domain error into the TRPCError callers see; anything else passes through unchanged. */
export function toTRPCError(error: TRPCError): TRPCError {
  if (error.cause instanceof PaymentError) {
    return new TRPCError({ code: codeFor[error.cause.code], message: error.cause.message, cause: error.cause });
  }
  return error;
}
