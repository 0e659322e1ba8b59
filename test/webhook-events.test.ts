/**
 * The merchant-webhook event recorder (src/payments/webhook-events.ts): the payload of a create, written around
 * the id the insert gives, is byte for byte the payload `draft` writes once the id is known.
 */
import { describe, expect, test } from "bun:test";
import { newRecord } from "../src/payments/service.ts";
import { createWebhookEventRecorder } from "../src/payments/webhook-events.ts";

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
let n = 0;
const recorder = createWebhookEventRecorder({
  ids: { uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}` },
  publicUrl: () => "https://pay.example.com",
  firstAttemptDelayMs: 0,
});

const payment = (over: { description?: string | null; metadata?: Record<string, string>; returnUrl?: string | null }) =>
  newRecord({
    bankPaymentId: "6f1c2b7e-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
    amountCents: 12_345,
    brCode: "000201...6304ABCD",
    createdAt: T0,
    expiresAt: T0 + 1_800_000,
    description: over.description ?? null,
    metadata: over.metadata ?? {},
    returnUrl: over.returnUrl ?? null,
  });

describe("aroundId", () => {
  const cases = {
    "no order fields": payment({}),
    "order fields with quotes, braces, an id-like key and non-ASCII text": payment({
      description: 'Pedido "42" {id:1} — café',
      metadata: { id: "7", '"id":': "}", order: "x\ny" },
      returnUrl: "https://shop.example/obrigado?id=3",
    }),
  };
  for (const [name, row] of Object.entries(cases)) {
    test(`${name}: before + id + after is the payload draft gives for that id`, () => {
      const around = recorder.aroundId("payment.created", T0, row);
      for (const id of [1, 42, 9_007_199_254_740_991]) {
        const full = recorder.draft("payment.created", T0, { ...row, id });
        expect(`${around.payloadBefore}${id}${around.payloadAfter}`).toBe(full.payload);
        expect(JSON.parse(full.payload).data.payment.id).toBe(id);
      }
      expect(around).toMatchObject({ type: "payment.created", createdAt: T0, dueAt: T0 });
      expect(around.id).toMatch(/^evt_[0-9a-f]{32}$/);
    });
  }
});
