import type { Ids } from "../clock.ts";
import type { WebhookEventType } from "../webhooks/events.ts";
import type { Refund } from "./model.ts";
import { presentPayment, presentRefund } from "./present.ts";
import type { PaymentRecord, PaymentWrites } from "./repository.ts";
import { toPayment } from "./service.ts";

/**
 * Records merchant-webhook events (CONTRACT §10) inside the write that makes the change: the event, with the
 * payment (and refund) as that write committed them, and one delivery per endpoint that takes its type, commit
 * with the change or not at all (the transactional outbox). The dispatcher sends them after the commit.
 */
export interface WebhookEventRecorder {
  /** Returns how many deliveries the event queued (0 when no endpoint takes it). */
  record(
    tx: PaymentWrites,
    type: WebhookEventType,
    at: number,
    payment: PaymentRecord,
    refund?: Refund,
  ): Generator<unknown, number, unknown>;
}

export function createWebhookEventRecorder(deps: {
  ids: Ids;
  publicUrl: () => string;
  /** The schedule's first wait (WEBHOOK_RETRY_SCHEDULE; 0: at once). */
  firstAttemptDelayMs: number;
}): WebhookEventRecorder {
  return {
    *record(tx, type, at, payment, refund) {
      const shown = presentPayment(toPayment(payment, at), deps.publicUrl());
      const data = refund ? { refund: presentRefund(refund), payment: shown } : { payment: shown };
      const payload = JSON.stringify({ type, timestamp: new Date(at).toISOString(), data });
      // Time first, then random: ids that grow with time keep the id indexes' inserts at their right edge, where
      // random ones would dirty a page of each index per event (measured: 3 to 4 times the commit's cost).
      const id = `evt_${at.toString(16).padStart(12, "0")}${deps.ids.uuid().replace(/-/g, "").slice(12)}`;
      return yield* tx.recordWebhookEvent({ id, type, payload, createdAt: at, dueAt: at + deps.firstAttemptDelayMs });
    },
  };
}
