/**
 * On PostgreSQL a create and a confirmation are one statement each, without a transaction around it (README,
 * "How a write is expressed"): counted at the pool the repository is given, through the real service, on a
 * cluster of the test's own. A write with an ordinary change still gets its transaction.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { createInMemoryBus } from "../src/bus/memory.ts";
import { randomIds } from "../src/clock.ts";
import { runMigrations } from "../src/db/postgres/client.ts";
import { createPostgresPaymentRepository } from "../src/db/postgres/payment-repository.ts";
import type { PaymentRepository } from "../src/payments/repository.ts";
import { createPaymentService, type PaymentService } from "../src/payments/service.ts";
import { createWebhookEventRecorder } from "../src/payments/webhook-events.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";

let pg: TestPostgres;
let pool: SQL;
let repo: PaymentRepository;
let service: PaymentService;
const counts = { statements: 0, transactions: 0 };

beforeAll(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase();
  await runMigrations(url);
  pool = new SQL({ url, max: 4 });
  // The pool as the repository sees it (the two methods it calls), counting what goes through each.
  const counting = {
    unsafe: (text: string, params?: unknown[]) => {
      counts.statements++;
      return pool.unsafe(text, params);
    },
    begin: (fn: (tx: SQL) => Promise<unknown>) => {
      counts.transactions++;
      return pool.begin(fn);
    },
  } as unknown as SQL;
  repo = createPostgresPaymentRepository(counting);
  service = createPaymentService({
    repo,
    clock: { now: () => Date.now() },
    ids: randomIds,
    bus: createInMemoryBus(),
    ttlSeconds: 1800,
    pix: { key: "loja@example.com", merchantName: "Loja", merchantCity: "Sao Paulo" },
    allowHttpReturnUrls: true,
    webhookEvents: createWebhookEventRecorder({
      ids: randomIds,
      publicUrl: () => "https://pay.example.com",
      firstAttemptDelayMs: 0,
    }),
  });
});
afterAll(async () => {
  await pool?.close();
  await pg?.destroy();
});

/** What `work` sent: statements through the pool (a transaction's own go through its connection) and BEGINs. */
async function sent(work: () => Promise<unknown>) {
  counts.statements = 0;
  counts.transactions = 0;
  await work();
  return { ...counts };
}

describe("round trips of a write on PostgreSQL", () => {
  test("a create, with or without an idempotency key, is one statement and no transaction", async () => {
    expect(await sent(() => service.create({ merchant: "m", amountCents: 1000 }))).toEqual({
      statements: 1,
      transactions: 0,
    });
    const keyed = () => service.create({ merchant: "m", amountCents: 1000, idempotencyKey: "k-1" });
    expect(await sent(keyed)).toEqual({ statements: 1, transactions: 0 });
    // The repeat finds the claim in that statement, then reads the first payment.
    expect(await sent(keyed)).toEqual({ statements: 2, transactions: 0 });
  });

  test("a confirmation with a webhook id is two reads and one statement, no transaction", async () => {
    const { payment } = await service.create({ merchant: "m", amountCents: 2500 });
    const confirm = () =>
      service.confirm({ bankPaymentId: payment.bankPaymentId, amountCents: 2500, webhookId: "msg_1" });
    expect(await sent(confirm)).toEqual({ statements: 3, transactions: 0 });
    expect((await repo.findById(payment.id))?.status).toBe("paid");
    // The replay: the payment and the receipt are read, nothing is written.
    expect(await sent(confirm)).toEqual({ statements: 2, transactions: 0 });
  });

  test("a write with an ordinary change still runs in a transaction, begun at that change", async () => {
    const { payment } = await service.create({ merchant: "m", amountCents: 3000 });
    const result = await sent(() =>
      repo.write(function* (tx) {
        yield* tx.findById(payment.id);
        yield* tx.insertEvent({ paymentId: payment.id, type: "created", at: Date.now() });
        return yield* tx.findById(payment.id);
      }),
    );
    // The read before the change went to the pool; the change and the read after it, to the transaction.
    expect(result).toEqual({ statements: 1, transactions: 1 });
  });
});
