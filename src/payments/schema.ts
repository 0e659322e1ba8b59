import { z } from "zod";
import { MAX_PAGE_SIZE } from "./model.ts";
import { MAX_CENTS, reaisToCents } from "./money.ts";

/** Reais on the wire (a JSON number with at most 2 decimals); integer cents once parsed. */
export const moneySchema = z
  .number()
  .positive()
  .max(MAX_CENTS / 100)
  .transform((value, ctx) => {
    const cents = reaisToCents(value);
    if (cents === null) {
      ctx.addIssue({ code: "custom", message: "must be a positive amount with at most 2 decimals" });
      return z.NEVER;
    }
    return cents;
  })
  .meta({
    description: "Amount in reais, a JSON number with at most 2 decimals (254.3 = R$ 254,30)",
    examples: [254.3],
  });

export const paymentStatusSchema = z.enum(["pending", "paid", "expired"]);

/** The payment object of CONTRACT §3. */
export const paymentSchema = z
  .object({
    id: z.number().int(),
    bank_payment_id: z.string().meta({ description: "Random UUID v4; the payer's capability" }),
    value: z.number().meta({ description: "Amount in reais, at most 2 decimals" }),
    paid: z.boolean(),
    status: paymentStatusSchema,
    expiration_date: z.string().meta({ description: "HTTP-date in UTC", examples: ["Tue, 08 Apr 2025 15:45:25 GMT"] }),
    qr_code: z.string().meta({ description: "Absolute URL of the QR image" }),
    pix_copy_paste: z.string().meta({ description: "PIX BR Code (EMV QRCPS-MPM) with CRC16" }),
    checkout_url: z.string().meta({ description: "Absolute URL of the payer's checkout page" }),
    created_at: z.string().meta({ description: "ISO 8601, UTC" }),
    paid_at: z.string().nullable().meta({ description: "ISO 8601, UTC; null until paid" }),
  })
  .meta({ id: "Payment" });

export const createPaymentInput = z.strictObject({ value: moneySchema });
export const createPaymentOutput = z.object({ message: z.string(), payment: paymentSchema });

export const getPaymentInput = z.strictObject({ id: z.number().int().positive() });
export const getPaymentOutput = z.object({ payment: paymentSchema });

export const listPaymentsInput = z.strictObject({
  status: paymentStatusSchema.optional(),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .optional()
    .meta({ description: `1 to ${MAX_PAGE_SIZE}, default 20` }),
  cursor: z.string().max(200).optional().meta({ description: "next_cursor of the previous page" }),
});
export const listPaymentsOutput = z.object({ payments: z.array(paymentSchema), next_cursor: z.string().nullable() });

export const confirmPaymentInput = z.strictObject({
  bank_payment_id: z.string().min(1).max(100),
  value: moneySchema,
});
export const messageOutput = z.object({ message: z.string() });

export const watchPaymentInput = z.strictObject({ bank_payment_id: z.string().min(1).max(100) });

export type PaymentWire = z.infer<typeof paymentSchema>;
