/**
 * Upgrading a SQLite file made before the order fields existed (PostgreSQL deployments start with them).
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MIGRATIONS_FOLDER, openDatabase, runMigrations } from "../src/db/sqlite/client.ts";
import { merchantHeaders, startTestApp, TEST_API_KEY, tempDir } from "./harness.ts";

describe("orders on the charge, on a SQLite file from before them", () => {
  test("a key stored before the order fields existed still matches its plain request after the upgrade", async () => {
    const tmp = tempDir();
    try {
      // A database made by the first migration only, holding a payment and its key as that version wrote them.
      const old = join(tmp.dir, "migrations-0000");
      mkdirSync(join(old, "meta"), { recursive: true });
      copyFileSync(join(MIGRATIONS_FOLDER, "0000_init.sql"), join(old, "0000_init.sql"));
      const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8"));
      writeFileSync(join(old, "meta/_journal.json"), JSON.stringify({ ...journal, entries: [journal.entries[0]] }));
      const file = join(tmp.dir, "old.sqlite");
      const db = openDatabase(file);
      runMigrations(db, old);
      const bankPaymentId = crypto.randomUUID();
      const now = Date.now();
      db.$client.run(
        "INSERT INTO payments (bank_payment_id, amount_cents, br_code, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        [bankPaymentId, 1000, "000201", now, now + 3_600_000],
      );
      const merchant = createHash("sha256").update(TEST_API_KEY).digest("hex").slice(0, 16);
      const oldHash = createHash("sha256").update("amount_cents=1000").digest("hex");
      db.$client.run(
        "INSERT INTO idempotency_keys (merchant, key, request_hash, payment_id, created_at) VALUES (?, 'old-key', ?, 1, ?)",
        [merchant, oldHash, now],
      );
      db.$client.close();

      const upgraded = startTestApp({ databaseFile: file });
      try {
        const res = await fetch(`${upgraded.url}/payments`, {
          method: "POST",
          headers: merchantHeaders(TEST_API_KEY, { "idempotency-key": "old-key" }),
          body: JSON.stringify({ value: 10 }),
        });
        const body = (await res.json()) as any;
        expect(res.status).toBe(200);
        expect(body.payment).toMatchObject({ id: 1, bank_payment_id: bankPaymentId, description: null });
        expect(body.payment.metadata).toEqual({});
        expect(body.payment.return_url).toBeNull();
      } finally {
        await upgraded.stop();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
