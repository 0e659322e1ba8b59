import { describe, expect, test } from "bun:test";
import { databaseUrlForProcess, queryDatabase } from "./backend.ts";
import { restConfirm, restCreate, spawnServer, startTestApp, tempDir } from "./harness.ts";

describe("concurrent confirmations of one payment", () => {
  test("many in parallel on one instance: all succeed, exactly one transition and one paid event", async () => {
    const app = startTestApp();
    const published: string[] = [];
    app.bus.subscribe((e) => published.push(e.bankPaymentId));
    try {
      const p = (await restCreate(app.url, 50)).body.payment;
      const results = await Promise.all(
        Array.from({ length: 40 }, () => restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 50 })),
      );
      expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
      const [paid] = await app.query(
        "SELECT COUNT(*) AS n FROM payment_events WHERE payment_id = ? AND type = 'paid'",
        p.id,
      );
      expect(paid).toEqual({ n: 1 });
      // one "created" and one "paid" announcement, no more
      expect(published.length).toBe(2);
    } finally {
      await app.stop();
    }
  });

  test("many in parallel across two processes sharing one SQLite file: exactly one transition", async () => {
    const tmp = tempDir();
    const file = `${tmp.dir}/shared.sqlite`;
    const a = await spawnServer({ DATABASE_URL: file });
    const b = await spawnServer({ DATABASE_URL: file });
    try {
      const payments = await Promise.all([1, 2, 3].map((v) => restCreate(a.url, v).then((r) => r.body.payment)));
      const attempts = payments.flatMap((p) =>
        Array.from({ length: 30 }, (_, i) =>
          restConfirm(i % 2 ? a.url : b.url, { bank_payment_id: p.bank_payment_id, value: p.value }),
        ),
      );
      const results = await Promise.all(attempts);
      expect(results.filter((r) => r.status !== 200)).toEqual([]);
      const rows = await queryDatabase(
        databaseUrlForProcess(file, tmp.dir),
        "SELECT payment_id, COUNT(*) AS n FROM payment_events WHERE type = 'paid' GROUP BY payment_id ORDER BY payment_id",
      );
      const byId = [...payments].sort((x, y) => x.id - y.id);
      expect(rows).toEqual(byId.map((p) => ({ payment_id: p.id, n: 1 })));
    } finally {
      await a.stop();
      await b.stop();
      tmp.cleanup();
    }
  });
});
