import type { Payment, ReceivedPix, Refund } from "./model.ts";
import { centsToReais } from "./money.ts";
import type {
  PayerPaymentWire,
  PaymentWire,
  ReceivedPixWire,
  RefundWire,
  WebhookDeliveryWire,
  WebhookEndpointWire,
} from "./schema.ts";
import type { DeliveryRecord, WebhookEndpointRecord } from "./webhook-repository.ts";

/** Turns a domain payment into the wire object of CONTRACT §3; links are absolute on publicUrl. */
export function presentPayment(payment: Payment, publicUrl: string): PaymentWire {
  const checkoutUrl = `${publicUrl}/pay/${payment.bankPaymentId}`;
  return {
    id: payment.id,
    bank_payment_id: payment.bankPaymentId,
    value: centsToReais(payment.amountCents),
    paid: payment.status === "paid",
    status: payment.status,
    expiration_date: new Date(payment.expiresAt).toUTCString(),
    qr_code: `${checkoutUrl}/qr.png`,
    pix_copy_paste: payment.brCode,
    checkout_url: checkoutUrl,
    created_at: new Date(payment.createdAt).toISOString(),
    paid_at: payment.paidAt === null ? null : new Date(payment.paidAt).toISOString(),
    description: payment.description,
    metadata: payment.metadata,
    return_url: payment.returnUrl,
    end_to_end_id: payment.endToEndId,
    refunded_value: centsToReais(payment.refundedCents),
  };
}

/** A ledger entry as CONTRACT §11 shows it. */
export function presentReceivedPix(pix: ReceivedPix): ReceivedPixWire {
  return {
    end_to_end_id: pix.endToEndId,
    txid: pix.txid,
    value: centsToReais(pix.amountCents),
    received_at: new Date(pix.receivedAt).toISOString(),
    payer_info: pix.payerInfo,
    status: pix.status,
    reason: pix.reason,
    payment_id: pix.paymentId,
    refunded_value: centsToReais(pix.refundedCents),
  };
}

/** A refund as CONTRACT §11 shows it. */
export function presentRefund(refund: Refund): RefundWire {
  return {
    id: refund.id,
    payment_id: refund.paymentId,
    value: centsToReais(refund.amountCents),
    reason: refund.reason,
    status: refund.status,
    failure_reason: refund.failureReason,
    created_at: new Date(refund.createdAt).toISOString(),
    refunded_at:
      refund.status === "refunded" && refund.settledAt !== null ? new Date(refund.settledAt).toISOString() : null,
  };
}

/** The payment as the payer's channels carry it: without the merchant's metadata (see payerPaymentSchema). */
export function presentPaymentToPayer(payment: Payment, publicUrl: string): PayerPaymentWire {
  const { metadata: _merchantOnly, ...payer } = presentPayment(payment, publicUrl);
  return payer;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A merchant webhook endpoint as CONTRACT §10 shows it: never its secret. */
export function presentWebhookEndpoint(endpoint: WebhookEndpointRecord): WebhookEndpointWire {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    description: endpoint.description,
    enabled: endpoint.enabled,
    created_at: new Date(endpoint.createdAt).toISOString(),
  };
}

export function presentDelivery(delivery: DeliveryRecord): WebhookDeliveryWire {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    last_status_code: delivery.lastStatusCode,
    last_error: delivery.lastError,
    next_attempt_at: iso(delivery.nextAttemptAt),
    created_at: new Date(delivery.createdAt).toISOString(),
    delivered_at: iso(delivery.deliveredAt),
  };
}
