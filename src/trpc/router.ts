import { TRPCError, tracked } from "@trpc/server";
import { z } from "zod";
import { MESSAGES } from "../messages.ts";
import {
  presentDelivery,
  presentPayment,
  presentPaymentToPayer,
  presentReceivedPix,
  presentRefund,
  presentWebhookEndpoint,
} from "../payments/present.ts";
import {
  confirmPaymentInput,
  createPaymentInput,
  createPaymentOutput,
  createRefundInput,
  createRefundOutput,
  createWebhookEndpointInput,
  createWebhookEndpointOutput,
  emptyOutput,
  getPaymentInput,
  getPaymentOutput,
  getPixInput,
  getPixOutput,
  getWebhookEndpointOutput,
  listDeliveriesInput,
  listDeliveriesOutput,
  listPaymentsInput,
  listPaymentsOutput,
  listPixInput,
  listPixOutput,
  listRefundsInput,
  listRefundsOutput,
  listWebhookEndpointsOutput,
  messageOutput,
  pixNotificationInput,
  retryDeliveryInput,
  retryDeliveryOutput,
  rotateSecretOutput,
  watchPaymentInput,
  webhookEndpointIdInput,
} from "../payments/schema.ts";
import type { PaymentState } from "../realtime/feed.ts";
import type { Context } from "./context.ts";
import type { InputIssue } from "./errors.ts";
import { merchantProcedure, pspWebhookProcedure, publicProcedure, router, webhookProcedure } from "./trpc.ts";

/** Optional `Idempotency-Key` header: 1 to 255 visible ASCII characters. */
function idempotencyKeyOf(ctx: Context): string | undefined {
  const key = ctx.request.headers.get("idempotency-key");
  if (key === null) return undefined;
  if (!/^[\x21-\x7E]{1,255}$/.test(key)) {
    throw new TRPCError({ code: "BAD_REQUEST", message: "Invalid Idempotency-Key: 1 to 255 visible ASCII characters" });
  }
  return key;
}

/** "Invalid status" / "Invalid limit" / "Unknown query parameter: x" for the list's filters. */
function listFilterMessage(issues: InputIssue[]): string {
  const first = issues[0];
  if (first?.code === "unrecognized_keys") return `Unknown query parameter: ${first.keys?.join(", ")}`;
  return first?.path.length ? `Invalid ${String(first.path[0])}` : "Invalid query parameters";
}

/** The create input's fields each have their own message (CONTRACT §3, §4); anything else is the value's. */
const CREATE_FIELD_MESSAGES: Record<string, string> = {
  description: "Invalid description",
  metadata: "Invalid metadata",
  return_url: "Invalid return_url",
};

function createInputMessage(issues: InputIssue[]): string {
  const field = issues[0]?.path[0];
  return (typeof field === "string" && CREATE_FIELD_MESSAGES[field]) || "Invalid value";
}

/** "Invalid reason" for a bad reason, "Invalid value" for anything else wrong with a refund request (as §4). */
function refundInputMessage(issues: InputIssue[]): string {
  return issues.length > 0 && issues.every((i) => i.path[0] === "reason") ? "Invalid reason" : "Invalid value";
}

/** tRPC adds the id of the last event a client got to the input when its subscription resumes. */
const watchInput = watchPaymentInput.extend({ lastEventId: z.string().max(20).nullish() });

export const paymentsRouter = router({
  create: merchantProcedure
    .meta({ invalidInput: createInputMessage })
    .input(createPaymentInput)
    .output(createPaymentOutput)
    .mutation(async ({ ctx, input }) => {
      const { payment } = await ctx.service.create({
        amountCents: input.value,
        merchant: ctx.merchant,
        idempotencyKey: idempotencyKeyOf(ctx),
        description: input.description ?? null,
        metadata: input.metadata ?? {},
        returnUrl: input.return_url ?? null,
      });
      return { message: "The payment has been created", payment: presentPayment(payment, ctx.publicUrl()) };
    }),

  get: merchantProcedure
    .meta({ invalidInput: "Invalid id" })
    .input(getPaymentInput)
    .output(getPaymentOutput)
    .query(async ({ ctx, input }) => ({ payment: presentPayment(await ctx.service.get(input.id), ctx.publicUrl()) })),

  list: merchantProcedure
    .meta({ invalidInput: listFilterMessage })
    .input(listPaymentsInput)
    .output(listPaymentsOutput)
    .query(async ({ ctx, input }) => {
      const page = await ctx.service.list(input);
      const base = ctx.publicUrl();
      return { payments: page.payments.map((p) => presentPayment(p, base)), next_cursor: page.nextCursor };
    }),

  confirm: webhookProcedure
    .meta({ invalidInput: "Invalid payment data" })
    .input(confirmPaymentInput)
    .output(messageOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.service.confirm({
        bankPaymentId: input.bank_payment_id,
        amountCents: input.value,
        webhookId: ctx.webhookId,
      });
      return { message: "The payment has been confirmed" };
    }),

  // The bank_payment_id is the capability (CONTRACT §3), so no key is needed to watch one payment.
  watch: publicProcedure
    .meta({ invalidInput: "Invalid bank_payment_id" })
    .input(watchInput)
    .subscription(async ({ ctx, input, signal }) => {
      const since = input.lastEventId && /^\d{1,15}$/.test(input.lastEventId) ? Number(input.lastEventId) : undefined;
      // A socket's watches count against its share; an SSE request is a connection of its own.
      const slot = ctx.watchBudget.take(ctx.request.socket ?? ctx.watchBudget.connection());
      if (slot === "connection")
        throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: MESSAGES.tooManySubscriptions });
      if (slot === "instance") throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: MESSAGES.tooManyWatches });
      signal?.addEventListener("abort", slot, { once: true });
      let states: AsyncGenerator<PaymentState>;
      try {
        // Rejects with PaymentNotFound now, before the stream starts, so the caller gets the contract's error.
        states = await ctx.feed.watch(input.bank_payment_id, { since, signal });
      } catch (err) {
        slot();
        throw err;
      }
      return (async function* () {
        try {
          for await (const state of states)
            yield tracked(String(state.eventId), presentPaymentToPayer(state.payment, ctx.publicUrl()));
        } finally {
          slot();
        }
      })();
    }),
});

/** Received Pix: the PSP's callback, and the ledger of every Pix received (CONTRACT §11). */
export const pixRouter = router({
  notify: pspWebhookProcedure
    .meta({ invalidInput: "Invalid Pix notification" })
    .input(pixNotificationInput)
    .output(messageOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.receivedPix.receive(input);
      return { message: "Received" };
    }),

  list: merchantProcedure
    .meta({ invalidInput: listFilterMessage })
    .input(listPixInput)
    .output(listPixOutput)
    .query(async ({ ctx, input }) => {
      const page = await ctx.receivedPix.list(input);
      return { pix: page.pix.map(presentReceivedPix), next_cursor: page.nextCursor };
    }),

  get: merchantProcedure
    .meta({ invalidInput: "Invalid end_to_end_id" })
    .input(getPixInput)
    .output(getPixOutput)
    .query(async ({ ctx, input }) => ({ pix: presentReceivedPix(await ctx.receivedPix.get(input.end_to_end_id)) })),
});

/** Refunds (devoluções) of paid payments (CONTRACT §11). */
export const refundsRouter = router({
  create: merchantProcedure
    .meta({ invalidInput: refundInputMessage })
    .input(createRefundInput)
    .output(createRefundOutput)
    .mutation(async ({ ctx, input }) => {
      const { refund } = await ctx.refunds.create({
        paymentId: input.payment_id,
        amountCents: input.value,
        reason: input.reason ?? null,
        merchant: ctx.merchant,
        idempotencyKey: idempotencyKeyOf(ctx),
      });
      return { message: "The refund has been requested", refund: presentRefund(refund) };
    }),

  list: merchantProcedure
    .meta({ invalidInput: "Invalid payment_id" })
    .input(listRefundsInput)
    .output(listRefundsOutput)
    .query(async ({ ctx, input }) => ({ refunds: (await ctx.refunds.list(input.payment_id)).map(presentRefund) })),
});

/** "Invalid webhook URL" / "Invalid event type" / "Invalid description" for a bad endpoint (CONTRACT §10). */
function endpointInputMessage(issues: InputIssue[]): string {
  const field = issues[0]?.path[0];
  if (field === "url") return "Invalid webhook URL";
  if (field === "events") return "Invalid event type";
  if (field === "description") return "Invalid description";
  return "Invalid value";
}

/** Merchant webhook endpoints and their delivery log (CONTRACT §10). */
export const webhooksRouter = router({
  create: merchantProcedure
    .meta({ invalidInput: endpointInputMessage })
    .input(createWebhookEndpointInput)
    .output(createWebhookEndpointOutput)
    .mutation(async ({ ctx, input }) => {
      const { endpoint, secret } = await ctx.webhooks.create(input);
      return { endpoint: presentWebhookEndpoint(endpoint), secret };
    }),

  list: merchantProcedure
    .output(listWebhookEndpointsOutput)
    .query(async ({ ctx }) => ({ endpoints: (await ctx.webhooks.list()).map(presentWebhookEndpoint) })),

  get: merchantProcedure
    .meta({ invalidInput: "Webhook endpoint not found" })
    .input(webhookEndpointIdInput)
    .output(getWebhookEndpointOutput)
    .query(async ({ ctx, input }) => ({ endpoint: presentWebhookEndpoint(await ctx.webhooks.get(input.id)) })),

  delete: merchantProcedure
    .meta({ invalidInput: "Webhook endpoint not found" })
    .input(webhookEndpointIdInput)
    .output(emptyOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.webhooks.delete(input.id);
      return {};
    }),

  rotateSecret: merchantProcedure
    .meta({ invalidInput: "Webhook endpoint not found" })
    .input(webhookEndpointIdInput)
    .output(rotateSecretOutput)
    .mutation(({ ctx, input }) => ctx.webhooks.rotateSecret(input.id)),

  deliveries: merchantProcedure
    .meta({ invalidInput: listFilterMessage })
    .input(listDeliveriesInput)
    .output(listDeliveriesOutput)
    .query(async ({ ctx, input }) => {
      const page = await ctx.webhooks.deliveries(input.id, input);
      return { deliveries: page.deliveries.map(presentDelivery), next_cursor: page.nextCursor };
    }),

  retry: merchantProcedure
    .meta({ invalidInput: "Delivery not found" })
    .input(retryDeliveryInput)
    .output(retryDeliveryOutput)
    .mutation(async ({ ctx, input }) => ({
      delivery: presentDelivery(await ctx.webhooks.retry(input.id, input.delivery_id)),
    })),
});

export const appRouter = router({
  payments: paymentsRouter,
  pix: pixRouter,
  refunds: refundsRouter,
  webhooks: webhooksRouter,
});

/** The router's type, for clients: `import type { AppRouter }`. */
export type AppRouter = typeof appRouter;
