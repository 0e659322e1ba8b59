import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { startCheckpointer } from "../src/db/checkpointer.ts";
import { openDatabase, runMigrations, type Db } from "../src/db/client.ts";
import { restCreate, spawnServer, tempDir, waitUntil } from "./harness.ts";

const HOUR = 3_600_000;
const autocheckpoint = (db: Db) => (db.$client.query("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number }).wal_autocheckpoint;

/** Enough rows of ~2 KiB to put well over 1000 pages (4 KiB) in the WAL. */
function writeRows(db: Db, rows: number) {
  db.$client.run("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  const insert = db.$client.prepare("INSERT INTO filler (body) VALUES (?)");
  for (let i = 0; i < rows; i++) insert.run("x".repeat(2000)); // one commit each, as requests make
}

function withDb(run: (db: Db, file: string) => Promise<void>) {
  return async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, "p.sqlite");
    const db = openDatabase(file);
    runMigrations(db);
    try {
      await run(db, file);
    } finally {
      db.$client.close();
      tmp.cleanup();
    }
  };
}

describe("WAL checkpointer (checkpoints off the request path)", () => {
  test(
    "the serving connection stops checkpointing while it runs, and gets it back when it stops",
    withDb(async (db, file) => {
      expect(autocheckpoint(db)).toBe(1000);
      const errors: Error[] = [];
      const cp = await startCheckpointer(db, file, { intervalMs: HOUR, onError: (e) => errors.push(e) });
      expect(cp.running()).toBe(true);
      expect(autocheckpoint(db)).toBe(0);
      // 3000 commits of ~2 KiB: SQLite's default would have checkpointed (and fsynced) inside several of them.
      writeRows(db, 3000);
      const walBefore = statSync(`${file}-wal`).size;
      expect(walBefore).toBeGreaterThan(1000 * 4096);
      const result = await cp.checkpointNow();
      expect(result.busy).toBe(0);
      expect(result.log).toBeGreaterThan(1000); // every frame was still in the WAL: nobody checkpointed before
      expect(result.checkpointed).toBe(result.log);
      // The next commit rewinds the WAL to its start: it does not keep growing.
      writeRows(db, 10);
      const after = await cp.checkpointNow();
      expect(after.log).toBeLessThan(100);
      expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(walBefore);
      await cp.stop();
      expect(cp.running()).toBe(false);
      expect(autocheckpoint(db)).toBe(1000);
      await expect(cp.checkpointNow()).rejects.toThrow("not running");
      expect(errors).toEqual([]);
    }),
  );

  test(
    "its timer checkpoints on its own",
    withDb(async (db, file) => {
      const cp = await startCheckpointer(db, file, { intervalMs: 20, onError: () => {} });
      try {
        writeRows(db, 1500);
        // Once a tick has copied everything, the next commit rewinds the WAL to a handful of frames.
        await waitUntil(
          async () => {
            writeRows(db, 1);
            return (await cp.checkpointNow()).log < 10;
          },
          5000,
          "a timed checkpoint",
        );
      } finally {
        await cp.stop();
      }
    }),
  );

  test(
    "if the worker dies, the serving connection checkpoints again and the failure is reported",
    withDb(async (db, file) => {
      const errors: Error[] = [];
      const cp = await startCheckpointer(db, file, {
        intervalMs: HOUR,
        onError: (e) => errors.push(e),
        workerUrl: new URL("./fixtures/failing-checkpoint-worker.ts", import.meta.url),
      });
      expect(autocheckpoint(db)).toBe(0);
      await expect(cp.checkpointNow()).rejects.toThrow(/checkpointer/);
      expect(cp.running()).toBe(false);
      expect(autocheckpoint(db)).toBe(1000);
      expect(errors.length).toBe(1);
      expect(errors[0]!.message).toContain("disk on fire");
      await cp.stop();
    }),
  );

  test("a real server runs with it; SIGTERM exits 0 leaving every row in the file and no WAL behind", async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, "payments.sqlite");
    const server = await spawnServer({ DATABASE_URL: file });
    try {
      const created = await Promise.all(Array.from({ length: 300 }, (_, i) => restCreate(server.url, 1 + i)));
      expect(created.map((r) => r.status)).toEqual(created.map(() => 200));
      expect(await server.stop()).toBe(0);
      expect(server.output()).not.toContain("checkpointer");
      // The last connection to close checkpoints and deletes the WAL.
      expect(existsSync(`${file}-wal`)).toBe(false);
      const db = openDatabase(file);
      try {
        expect((db.$client.query("SELECT count(*) AS n FROM payments").get() as { n: number }).n).toBe(300);
      } finally {
        db.$client.close();
      }
    } finally {
      await server.stop();
      tmp.cleanup();
    }
  });
});
