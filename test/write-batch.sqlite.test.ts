import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createWriteBatcher } from "../src/db/sqlite/write-batch.ts";
import { PaymentError } from "../src/payments/errors.ts";
import { recordAnnouncements, startTestApp, type TestApp, tempDir } from "./harness.ts";

let tmp: ReturnType<typeof tempDir>;
let file: string;
let db: Database;
let other: Database;

/** Opens a connection configured like src/db/sqlite/client.ts (WAL, synchronous=NORMAL). */
function open(path: string, busyTimeoutMs = 5000): Database {
  const conn = new Database(path, { create: true, strict: true });
  conn.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  conn.run("PRAGMA journal_mode = WAL");
  conn.run("PRAGMA synchronous = NORMAL");
  conn.run("PRAGMA foreign_keys = ON");
  return conn;
}

beforeEach(() => {
  tmp = tempDir("write-batch-test-");
  file = join(tmp.dir, "batch.sqlite");
  db = open(file);
  db.run("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  db.run(
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id), v TEXT UNIQUE)",
  );
  db.run("INSERT INTO parent (id) VALUES (1)");
  other = open(file);
});

afterEach(() => {
  other.close();
  db.close();
  tmp.cleanup();
});

const insert = (v: string) => () => db.query("INSERT INTO child (parent_id, v) VALUES (1, ?) RETURNING id").all(v)[0];
const visibleElsewhere = () =>
  (other.query("SELECT v FROM child ORDER BY id").all() as Array<{ v: string }>).map((r) => r.v);

describe("write batcher (group commit)", () => {
  test("writes queued in one event-loop turn share one COMMIT, and each gets its own result", async () => {
    const commits: number[] = [];
    const batch = createWriteBatcher(db, { onCommit: (n) => commits.push(n) });
    const results = await Promise.all(["a", "b", "c", "d", "e"].map((v) => batch.run(insert(v))));
    expect(commits).toEqual([5]);
    expect(results).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }]);
    expect(visibleElsewhere()).toEqual(["a", "b", "c", "d", "e"]);
  });

  test("writes queued in later turns get a later COMMIT of their own", async () => {
    const commits: number[] = [];
    const batch = createWriteBatcher(db, { onCommit: (n) => commits.push(n) });
    await batch.run(insert("a"));
    await Promise.all([batch.run(insert("b")), batch.run(insert("c"))]);
    expect(commits).toEqual([1, 2]);
  });

  test("nothing settles before the COMMIT: inside the batch another connection sees none of its rows", async () => {
    const order: string[] = [];
    const batch = createWriteBatcher(db, { onCommit: () => order.push("commit") });
    const seenDuringBatch: string[][] = [];
    const first = batch.run(insert("a")).then(() => order.push("first settled"));
    const second = batch
      .run(() => {
        insert("b")();
        seenDuringBatch.push(visibleElsewhere());
      })
      .then(() => order.push("second settled"));
    await Promise.all([first, second]);
    expect(seenDuringBatch).toEqual([[]]);
    expect(order).toEqual(["commit", "first settled", "second settled"]);
    expect(visibleElsewhere()).toEqual(["a", "b"]);
  });

  test("an item that throws rolls back only its own writes, its caller gets its error, the others commit", async () => {
    const commits: number[] = [];
    const batch = createWriteBatcher(db, { onCommit: (n) => commits.push(n) });
    const failure = new PaymentError("PAYMENT_EXPIRED", "Payment expired");
    const outcomes = await Promise.allSettled([
      batch.run(insert("a")),
      batch.run(() => {
        insert("b")();
        insert("b2")();
        throw failure;
      }),
      batch.run(insert("a")), // UNIQUE violation raised by SQLite itself
      batch.run(insert("c")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBe(failure);
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toContain("UNIQUE");
    expect(commits).toEqual([4]);
    expect(visibleElsewhere()).toEqual(["a", "c"]);
    expect(db.inTransaction).toBe(false);
  });

  test("a failing COMMIT rejects every item of the batch, keeps none of their writes, and the next batch works", async () => {
    const commits: number[] = [];
    const batch = createWriteBatcher(db, { onCommit: (n) => commits.push(n) });
    const outcomes = await Promise.allSettled([
      batch.run(insert("a")),
      // A deferred foreign key is checked only at COMMIT, which then fails.
      batch.run(() => {
        db.run("PRAGMA defer_foreign_keys = ON");
        db.run("INSERT INTO child (parent_id, v) VALUES (99, 'orphan')");
      }),
      batch.run(insert("c")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const o of outcomes) expect(String((o as PromiseRejectedResult).reason)).toContain("FOREIGN KEY");
    expect(commits).toEqual([]);
    expect(db.inTransaction).toBe(false);
    expect(visibleElsewhere()).toEqual([]);

    await batch.run(insert("d"));
    expect(visibleElsewhere()).toEqual(["d"]);
  });

  test("a BEGIN IMMEDIATE that cannot get the write lock rejects every item and runs none", async () => {
    db.close();
    db = open(file, 0); // SQLITE_BUSY at once instead of after the busy timeout
    const batch = createWriteBatcher(db);
    other.run("BEGIN IMMEDIATE");
    let ran = 0;
    const outcomes = await Promise.allSettled(
      ["a", "b"].map((v) =>
        batch.run(() => {
          ran++;
          return insert(v)();
        }),
      ),
    );
    other.run("ROLLBACK");
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected"]);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/locked|busy/i);
    expect(ran).toBe(0);
    expect(db.inTransaction).toBe(false);
    expect(await batch.run(insert("later"))).toEqual({ id: 1 });
  });

  test("a batch is bounded: a burst is split into flushes of at most maxBatch items", async () => {
    const commits: number[] = [];
    const batch = createWriteBatcher(db, { maxBatch: 256, onCommit: (n) => commits.push(n) });
    await Promise.all(Array.from({ length: 600 }, (_, i) => batch.run(insert(`v${i}`))));
    expect(commits).toEqual([256, 256, 88]);
    expect(visibleElsewhere().length).toBe(600);
  });

  test("an asynchronous fn is refused and its synchronous writes are rolled back", async () => {
    const batch = createWriteBatcher(db);
    const refused = batch.run(async () => {
      insert("a")();
    });
    await expect(refused).rejects.toThrow("synchronous");
    expect(visibleElsewhere()).toEqual([]);
  });
});

describe("payment writes that share one batch", () => {
  let app: TestApp;
  beforeEach(() => {
    app = startTestApp();
  });
  afterEach(() => app.stop());

  const count = async (sql: string) => (await app.query(sql))[0]!.n;
  const merchant = "m1";

  test("the same idempotency key twice in one batch creates one payment; the second returns the first", async () => {
    const recorder = recordAnnouncements(app);
    const [first, second] = await Promise.all([
      app.service.create({ amountCents: 1000, merchant, idempotencyKey: "k1" }),
      app.service.create({ amountCents: 1000, merchant, idempotencyKey: "k1" }),
    ]);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.payment).toEqual(first.payment);
    expect(await count("SELECT COUNT(*) AS n FROM payments")).toBe(1);
    const announced = (await recorder.settled()).map((p) => p.id);
    expect(announced).toEqual([first.payment.id]);
  });

  test("the same key with a different amount in the same batch: the second gets the conflict, the first commits", async () => {
    const [first, second] = await Promise.allSettled([
      app.service.create({ amountCents: 1000, merchant, idempotencyKey: "k2" }),
      app.service.create({ amountCents: 1100, merchant, idempotencyKey: "k2" }),
    ]);
    expect(first.status).toBe("fulfilled");
    expect(second.status).toBe("rejected");
    const reason = (second as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(PaymentError);
    expect(reason.code).toBe("IDEMPOTENCY_CONFLICT");
    expect(await count("SELECT COUNT(*) AS n FROM payments")).toBe(1);
  });

  test("confirmations in one batch: one transition, an expired payment fails alone", async () => {
    const live = (await app.service.create({ amountCents: 500, merchant })).payment;
    const doomed = (await app.service.create({ amountCents: 700, merchant })).payment;
    await app.query("UPDATE payments SET expires_at = 0 WHERE id = ?", doomed.id);
    const recorder = recordAnnouncements(app);
    const outcomes = await Promise.allSettled([
      app.service.confirm({ bankPaymentId: live.bankPaymentId, amountCents: 500, webhookId: "w1" }),
      app.service.confirm({ bankPaymentId: doomed.bankPaymentId, amountCents: 700, webhookId: "w2" }),
      app.service.confirm({ bankPaymentId: live.bankPaymentId, amountCents: 500, webhookId: "w3" }),
      app.service.confirm({ bankPaymentId: live.bankPaymentId, amountCents: 500, webhookId: "w1" }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(((outcomes[1] as PromiseRejectedResult).reason as PaymentError).code).toBe("PAYMENT_EXPIRED");
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value.changed : null))).toEqual([
      true,
      null,
      false,
      false,
    ]);
    expect(await count("SELECT COUNT(*) AS n FROM payment_events WHERE type = 'paid'")).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM webhook_deliveries")).toBe(1);
    const announced = (await recorder.settled()).map((p) => `${p.id}:${p.status}`);
    expect(announced).toEqual([`${live.id}:paid`]);
  });
});
