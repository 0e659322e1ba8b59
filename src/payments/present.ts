import type { Payment } from "./model.ts";
import { centsToReais } from "./money.ts";
import type { PayerPaymentWire, PaymentWire } from "./schema.ts";

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
  };
}

/** The payment as the payer's channels carry it: without the merchant's metadata (see payerPaymentSchema). */
export function presentPaymentToPayer(payment: Payment, publicUrl: string): PayerPaymentWire {
  const { metadata: _merchantOnly, ...payer } = presentPayment(payment, publicUrl);
  return payer;
}
