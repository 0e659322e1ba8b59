import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, runMigrations } from "../src/db/sqlite/client.ts";
import { ROOT, restCreate, spawnServer, tempDir } from "./harness.ts";

/** How many migrations the committed journal holds: each is recorded once, however many instances apply them. */
const MIGRATIONS = (
  JSON.parse(readFileSync(join(ROOT, "migrations/sqlite/meta/_journal.json"), "utf8")) as {
    entries: unknown[];
  }
).entries.length;

const tables = (db: Database) =>
  (db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map(
    (r) => r.name,
  );

describe("SQLite storage", () => {
  test("creates the folder and file, with WAL, synchronous=NORMAL and a busy timeout", () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, "nested/deeper/payments.sqlite");
      const db = openDatabase(file);
      expect(existsSync(file)).toBe(true);
      const pragma = (name: string) => Object.values(db.$client.query(`PRAGMA ${name}`).get() as object)[0];
      expect(pragma("journal_mode")).toBe("wal");
      expect(pragma("synchronous")).toBe(1);
      expect(pragma("busy_timeout")).toBe(5000);
      db.$client.close();
    } finally {
      tmp.cleanup();
    }
  });

  test(":memory: works", () => {
    const db = openDatabase(":memory:");
    runMigrations(db);
    expect(tables(db.$client)).toContain("payments");
    db.$client.close();
  });

  test("migrations applied twice change nothing the second time", () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, "p.sqlite");
      const db = openDatabase(file);
      runMigrations(db);
      const after1 = {
        tables: tables(db.$client),
        applied: db.$client.query("SELECT COUNT(*) AS n FROM __drizzle_migrations").get(),
      };
      runMigrations(db);
      const after2 = {
        tables: tables(db.$client),
        applied: db.$client.query("SELECT COUNT(*) AS n FROM __drizzle_migrations").get(),
      };
      expect(after2).toEqual(after1);
      expect(after1.tables).toEqual(
        expect.arrayContaining(["payments", "idempotency_keys", "webhook_deliveries", "payment_events"]),
      );
      db.$client.close();
    } finally {
      tmp.cleanup();
    }
  });

  test("two instances starting at once on a new file both come up, and migrations are recorded once", async () => {
    const tmp = tempDir();
    try {
      for (let round = 0; round < 3; round++) {
        const file = join(tmp.dir, `fresh-${round}.sqlite`);
        // Hold the write lock while both start, so both reach the migration step and contend for it.
        const holder = new Database(file, { create: true });
        holder.run("PRAGMA journal_mode = WAL");
        holder.run("BEGIN IMMEDIATE");
        const starting = Promise.all([spawnServer({ DATABASE_URL: file }), spawnServer({ DATABASE_URL: file })]);
        await Bun.sleep(700);
        holder.run("COMMIT");
        holder.close();
        const [a, b] = await starting;
        expect((await restCreate(a.url, 1)).status).toBe(200);
        expect((await restCreate(b.url, 2)).status).toBe(200);
        expect(await a.stop()).toBe(0);
        expect(await b.stop()).toBe(0);
        const db = new Database(file, { readonly: true });
        expect(db.query("SELECT COUNT(*) AS n FROM __drizzle_migrations").get()).toEqual({ n: MIGRATIONS });
        db.close();
      }
    } finally {
      tmp.cleanup();
    }
  });

  test("the list and lookups use indexes, not table scans", () => {
    const db = openDatabase(":memory:");
    runMigrations(db);
    const plan = (sql: string) =>
      (db.$client.query(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join(" | ");
    expect(plan("SELECT * FROM payments WHERE bank_payment_id = 'x'")).toMatch(
      /USING INDEX payments_bank_payment_id_unique/,
    );
    expect(plan("SELECT * FROM payments WHERE id < 10 ORDER BY id DESC LIMIT 20")).toMatch(/USING INTEGER PRIMARY KEY/);
    expect(plan("SELECT * FROM payments WHERE status = 'paid' AND id < 10 ORDER BY id DESC LIMIT 20")).toMatch(
      /USING (COVERING )?INDEX payments_status_id_idx/,
    );
    expect(plan("SELECT * FROM payments WHERE status = 'pending' AND expires_at <= 5")).toMatch(
      /USING INDEX payments_status_/,
    );
    db.$client.close();
  });
});
