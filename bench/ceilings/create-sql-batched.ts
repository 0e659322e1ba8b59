/**
 * Yardstick (2c), not a target: the same SQL as (2b), but group-committed — creates that arrive in the
 * same event-loop turn share one BEGIN IMMEDIATE … COMMIT, each in its own SAVEPOINT, and every response
 * waits for that COMMIT (so an acknowledged payment is exactly as durable as with one transaction each).
 * It shows what the proposed batched write path would give the real service.
 */
import { announce, DATABASE, openCeilingDatabase, PORT, prepareCreateSql, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const create = prepareCreateSql(db);

interface Job {
  key: string;
  cents: number;
  resolve: (row: unknown) => void;
  reject: (err: unknown) => void;
}
let queue: Job[] = [];
const begin = db.prepare("BEGIN IMMEDIATE");
const commit = db.prepare("COMMIT");
const rollback = db.prepare("ROLLBACK");

function flush() {
  const jobs = queue;
  queue = [];
  const results: Array<[Job, unknown, boolean]> = [];
  begin.run();
  try {
    // Inside a transaction bun:sqlite's transaction() becomes a SAVEPOINT: one failing job rolls back alone.
    for (const job of jobs) {
      try {
        results.push([job, create(job.key, job.cents), true]);
      } catch (err) {
        results.push([job, err, false]);
      }
    }
    commit.run();
  } catch (err) {
    rollback.run();
    for (const job of jobs) job.reject(err);
    return;
  }
  for (const [job, value, ok] of results) (ok ? job.resolve : job.reject)(value);
}

function createBatched(key: string, cents: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push({ key, cents, resolve, reject });
  });
}

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = (await req.json()) as { value: number };
    const key = req.headers.get("idempotency-key") ?? crypto.randomUUID();
    return Response.json(await createBatched(key, Math.round(body.value * 100)));
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
