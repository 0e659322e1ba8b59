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
      const id = `evt_${deps.ids.uuid().replace(/-/g, "")}`;
      return yield* tx.recordWebhookEvent({ id, type, payload, createdAt: at, dueAt: at + deps.firstAttemptDelayMs });
    },
  };
}
