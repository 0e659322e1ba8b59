import type { Ids } from "../clock.ts";
import type { WebhookEventType } from "../webhooks/events.ts";
import type { Refund } from "./model.ts";
import { presentPayment, presentRefund } from "./present.ts";
import type { PaymentRecord, PaymentWrites } from "./repository.ts";
import { toPayment } from "./service.ts";
import type { NewWebhookEvent, NewWebhookEventAroundId } from "./webhook-repository.ts";

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
  /** The event as `record` would record it, for a step that records it itself (`confirmPayment`). */
  draft(type: WebhookEventType, at: number, payment: PaymentRecord, refund?: Refund): NewWebhookEvent;
  /**
   * The event of a payment still to be inserted (`createPayment`): `payment` as it will be stored, but for its
   * id, which goes between the payload's two halves.
   */
  aroundId(type: WebhookEventType, at: number, payment: PaymentRecord): NewWebhookEventAroundId;
}

export function createWebhookEventRecorder(deps: {
  ids: Ids;
  publicUrl: () => string;
  /** The schedule's first wait (WEBHOOK_RETRY_SCHEDULE; 0: at once). */
  firstAttemptDelayMs: number;
}): WebhookEventRecorder {
  const envelope = (type: WebhookEventType, at: number) => ({
    // Time first, then random: ids that grow with time keep the id indexes' inserts at their right edge, where
    // random ones would dirty a page of each index per event (measured: 3 to 4 times the commit's cost).
    id: `evt_${at.toString(16).padStart(12, "0")}${deps.ids.uuid().replace(/-/g, "").slice(12)}`,
    type,
    createdAt: at,
    dueAt: at + deps.firstAttemptDelayMs,
  });
  const timestamp = (at: number) => new Date(at).toISOString();

  const draft: WebhookEventRecorder["draft"] = (type, at, payment, refund) => {
    const shown = presentPayment(toPayment(payment, at), deps.publicUrl());
    const data = refund ? { refund: presentRefund(refund), payment: shown } : { payment: shown };
    return { ...envelope(type, at), payload: JSON.stringify({ type, timestamp: timestamp(at), data }) };
  };

  return {
    draft,
    *record(tx, type, at, payment, refund) {
      return yield* tx.recordWebhookEvent(draft(type, at, payment, refund));
    },
    aroundId(type, at, payment) {
      // The wire object's first field is its id (presentPayment): the payload is this text around it, the same
      // bytes as `draft` gives once the id is known (test/webhook-events.test.ts compares them).
      const { id: _id, ...rest } = presentPayment(toPayment(payment, at), deps.publicUrl());
      const head = JSON.stringify({ type, timestamp: timestamp(at) });
      return {
        ...envelope(type, at),
        payloadBefore: `${head.slice(0, -1)},"data":{"payment":{"id":`,
        payloadAfter: `,${JSON.stringify(rest).slice(1)}}}`,
      };
    },
  };
}
