/**
 * Two real server processes on one database (a SQLite file, or one PostgreSQL database), both behind the same
 * simulated PSP: refunds racing on the two instances never add up past the payment (one conditional write),
 * and one endToEndId sent to both at once pays once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startPspSimulator } from "../scripts/bank-psp.ts";
import { databaseUrlForProcess, queryDatabase } from "./backend.ts";
import {
  pixFor,
  restCreate,
  restRefund,
  type ServerProcess,
  sendPixCallback,
  spawnServer,
  TEST_WEBHOOK_SECRET,
  tempDir,
} from "./harness.ts";
import { pspEnv } from "./psp.ts";

const tmp = tempDir();
const file = `${tmp.dir}/shared.sqlite`;
const psp = startPspSimulator({ webhookSecret: TEST_WEBHOOK_SECRET, settleDelayMs: 3_600_000 });
let a: ServerProcess;
let b: ServerProcess;
beforeAll(async () => {
  a = await spawnServer({ DATABASE_URL: file, ...pspEnv(psp) });
  b = await spawnServer({ DATABASE_URL: file, ...pspEnv(psp) });
  psp.webhookUrl = `${a.url}/webhooks`;
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await psp.stop();
  tmp.cleanup();
});

const query = (sql: string, ...params: unknown[]) =>
  queryDatabase(databaseUrlForProcess(file, tmp.dir), sql, ...params);

describe("two instances sharing one database", () => {
  test("two refunds racing on two instances that together exceed the payment: exactly one is accepted", async () => {
    const payments = [];
    for (let i = 0; i < 6; i++) {
      const payment = (await restCreate(a.url, 100)).body.payment;
      const pix = pixFor(payment);
      psp.registerPix(pix);
      expect((await sendPixCallback(a.url, { pix: [pix] })).status).toBe(200);
      payments.push(payment);
    }
    const answers = await Promise.all(
      payments.flatMap((p) => [restRefund(a.url, p.id, { value: 60 }), restRefund(b.url, p.id, { value: 60 })]),
    );
    for (let i = 0; i < payments.length; i++) {
      const pair = [answers[2 * i]!, answers[2 * i + 1]!].map((r) => r.status).sort();
      expect(pair).toEqual([201, 422]);
    }
    const rows = await query(
      "SELECT p.id AS id, p.refund_reserved_cents AS reserved, COUNT(r.id) AS n FROM payments p JOIN refunds r ON r.payment_id = p.id GROUP BY p.id, p.refund_reserved_cents ORDER BY p.id",
    );
    expect(rows).toEqual(payments.map((p) => ({ id: p.id, reserved: 6000, n: 1 })));
  });

  test("one endToEndId sent to both instances at once, many times: one transition, one ledger entry", async () => {
    const payment = (await restCreate(a.url, 42)).body.payment;
    const pix = pixFor(payment);
    psp.registerPix(pix);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => sendPixCallback(i % 2 ? a.url : b.url, { pix: [pix] })),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(16).fill(200));
    expect(
      await query("SELECT COUNT(*) AS n FROM payment_events WHERE payment_id = ? AND type = 'paid'", payment.id),
    ).toEqual([{ n: 1 }]);
    expect(await query("SELECT status FROM received_pix WHERE end_to_end_id = ?", pix.endToEndId)).toEqual([
      { status: "matched" },
    ]);
  });
});
