/**
 * PostgreSQL going away and coming back (CONTRACT §12), with a real cluster of the test's own that it
 * stops and starts, and real server processes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { queryDatabase } from "./backend.ts";
import { merchantHeaders, restConfirm, restCreate, type ServerProcess, spawnServer, waitUntil } from "./harness.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg.destroy();
});

const status = async (url: string) => (await fetch(url).catch(() => null))?.status ?? 0;

/** Time from now until `check` holds, polling; fails past `limitMs`. */
async function within(limitMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  await waitUntil(check, limitMs, what);
  return Date.now() - started;
}

describe("PostgreSQL stopped and started under a running instance", () => {
  let server: ServerProcess;
  let database: string;

  beforeAll(async () => {
    database = await pg.createDatabase();
    server = await spawnServer({ DATABASE_URL: database, EXPIRY_SWEEP_MS: "200" });
  });
  afterAll(async () => {
    await server.stop("SIGKILL");
  });

  test("/readyz 503 within 5 s; requests 503 'Service unavailable' within 10 s; back by itself within 10 s", async () => {
    const before = (await restCreate(server.url, 12.34)).body.payment;
    expect(await status(`${server.url}/readyz`)).toBe(200);

    await pg.stop();
    const notReady = await within(5000, "/readyz 503", async () => (await status(`${server.url}/readyz`)) === 503);
    expect(notReady).toBeLessThan(5000);

    const timed = async <T>(work: () => Promise<T>) => {
      const started = Date.now();
      const value = await work();
      return { value, ms: Date.now() - started };
    };
    const create = await timed(() => restCreate(server.url, 5));
    const read = await timed(async () => {
      const res = await fetch(`${server.url}/payments/${before.id}`, { headers: merchantHeaders() });
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
    });
    const confirm = await timed(() =>
      restConfirm(server.url, { bank_payment_id: before.bank_payment_id, value: 12.34 }),
    );
    const trpc = await timed(async () => {
      const input = encodeURIComponent(JSON.stringify({ id: before.id }));
      const res = await fetch(`${server.url}/trpc/payments.get?input=${input}`, { headers: merchantHeaders() });
      return { status: res.status, body: (await res.json()) as any };
    });
    expect(create.value).toEqual({ status: 503, body: { message: "Service unavailable" } });
    expect(read.value).toEqual({ status: 503, retryAfter: "5", body: { message: "Service unavailable" } });
    expect(confirm.value).toEqual({ status: 503, body: { message: "Service unavailable" } });
    expect(trpc.value.status).toBe(503);
    expect(trpc.value.body.error.message).toBe("Service unavailable");
    for (const call of [create, read, confirm, trpc]) expect(call.ms).toBeLessThan(10_000);
    // The checkout page needs the database too.
    expect(await status(`${server.url}/pay/${before.bank_payment_id}`)).toBe(503);
    expect(await status(`${server.url}/healthz`)).toBe(200); // alive, only not ready

    await pg.start();
    const back = await within(
      10_000,
      "a create succeeds again",
      async () => (await restCreate(server.url, 6)).status === 200,
    );
    expect(back).toBeLessThan(10_000);
    expect(await status(`${server.url}/readyz`)).toBe(200);
    expect((await restConfirm(server.url, { bank_payment_id: before.bank_payment_id, value: 12.34 })).status).toBe(200);

    // Nothing crashed and nothing was left unhandled; nothing acknowledged before the outage was lost.
    expect(server.proc.exitCode).toBeNull();
    expect(server.output()).not.toContain("unhandled rejection");
    expect(server.output()).not.toContain("unexpected error");
    const [row] = await queryDatabase(database, "SELECT status FROM payments WHERE id = ?", before.id);
    expect(row).toEqual({ status: "paid" });
  }, 60_000);
});

describe("start-up", () => {
  test("three instances starting at once on an empty database all come up, and migrations are applied once", async () => {
    const database = await pg.createDatabase();
    // Hold the migrator's own table locked while all three start, so that all three reach the migration
    // step before any can read it: only the migration lock then keeps them from applying it together.
    const holder = new SQL({ url: database, max: 1 });
    await holder`CREATE SCHEMA drizzle`;
    await holder`CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`;
    const reserved = await holder.reserve();
    await reserved`BEGIN`;
    await reserved`LOCK TABLE drizzle.__drizzle_migrations IN ACCESS EXCLUSIVE MODE`;
    const starting = Promise.allSettled([1, 2, 3].map(() => spawnServer({ DATABASE_URL: database })));
    await Bun.sleep(1500);
    await reserved`COMMIT`;
    reserved.release();
    await holder.close();
    const started = await starting;
    const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    try {
      expect(started.map((s) => (s.status === "rejected" ? String(s.reason).slice(0, 300) : "up"))).toEqual([
        "up",
        "up",
        "up",
      ]);
      for (const s of servers) expect((await restCreate(s.url, 1)).status).toBe(200);
      const applied = await queryDatabase(database, "SELECT COUNT(*) AS n FROM drizzle.__drizzle_migrations");
      const files = new Bun.Glob("*.sql").scanSync(`${import.meta.dir}/../migrations/postgres`);
      expect(applied).toEqual([{ n: [...files].length }]);
      const [count] = await queryDatabase(database, "SELECT COUNT(*) AS n FROM payments");
      expect(count).toEqual({ n: 3 });
    } finally {
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    }
  }, 60_000);

  test("a database that does not answer at start-up stops the process with a message, not a stack trace", async () => {
    const proc = Bun.spawn([process.execPath, `${import.meta.dir}/../src/index.ts`], {
      cwd: `${import.meta.dir}/..`,
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "test",
        PORT: "0",
        DATABASE_URL: `postgres://postgres@127.0.0.1:${pg.port + 1}/none`,
        API_KEYS: "sk_test_0123456789abcdef0123",
        WEBHOOK_SECRET: `whsec_${Buffer.from("test-webhook-secret-32-bytes-long").toString("base64")}`,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(1);
    const err = await new Response(proc.stderr as ReadableStream).text();
    expect(err).toContain("Cannot open the database");
    expect(err).not.toMatch(/\n\s+at /);
  }, 30_000);
});
