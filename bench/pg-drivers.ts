/**
 * Which PostgreSQL driver (issue 12): Bun's built-in SQL client against postgres.js, each with a pool of 10
 * and 32 concurrent callers, on the statements a create and a confirmation run: one INSERT … RETURNING, one
 * SELECT by primary key, one conditional UPDATE … RETURNING, and a create's transaction (BEGIN, two
 * INSERTs, COMMIT). Interleaved rounds against one test cluster; prints operations per second.
 *   node_modules/.bin/bun bench/pg-drivers.ts
 */
import { SQL } from "bun";
import postgres from "postgres";
import { startPostgres } from "../test/postgres.ts";

const ROUNDS = 5;
const SECONDS = 3;
const CONCURRENCY = 32;

interface Driver {
  name: string;
  insert(n: number): Promise<number>;
  select(id: number): Promise<unknown>;
  update(id: number): Promise<unknown>;
  transaction(n: number): Promise<unknown>;
  close(): Promise<void>;
}

const pg = await startPostgres();
const url = await pg.createDatabase("drivers");
const setup = postgres(url, { max: 1, onnotice: () => {} });
await setup.unsafe(`CREATE TABLE p (id bigserial PRIMARY KEY, bank text NOT NULL UNIQUE, cents bigint NOT NULL,
  status text NOT NULL DEFAULT 'pending', created bigint NOT NULL);
  CREATE TABLE e (id bigserial PRIMARY KEY, pid bigint NOT NULL REFERENCES p(id), type text NOT NULL, at bigint NOT NULL)`);
await setup.end();

function bunSql(): Driver {
  const sql = new SQL({ url, max: 10 });
  return {
    name: "Bun SQL",
    insert: async (n) =>
      (
        await sql`INSERT INTO p (bank, cents, created) VALUES (${crypto.randomUUID()}, ${n}, ${Date.now()}) RETURNING id`
      )[0].id,
    select: (id) => sql`SELECT * FROM p WHERE id = ${id}`,
    update: (id) => sql`UPDATE p SET status = 'paid' WHERE id = ${id} AND status = 'pending' RETURNING *`,
    transaction: (n) =>
      sql.begin(async (tx) => {
        const [row] =
          await tx`INSERT INTO p (bank, cents, created) VALUES (${crypto.randomUUID()}, ${n}, ${Date.now()}) RETURNING id`;
        await tx`INSERT INTO e (pid, type, at) VALUES (${row.id}, 'created', ${Date.now()})`;
      }),
    close: () => sql.close(),
  };
}

function postgresJs(): Driver {
  const sql = postgres(url, { max: 10, prepare: true });
  return {
    name: "postgres.js",
    insert: async (n) =>
      (
        await sql`INSERT INTO p (bank, cents, created) VALUES (${crypto.randomUUID()}, ${n}, ${Date.now()}) RETURNING id`
      )[0]!.id,
    select: (id) => sql`SELECT * FROM p WHERE id = ${id}`,
    update: (id) => sql`UPDATE p SET status = 'paid' WHERE id = ${id} AND status = 'pending' RETURNING *`,
    transaction: (n) =>
      sql.begin(async (tx) => {
        const [row] =
          await tx`INSERT INTO p (bank, cents, created) VALUES (${crypto.randomUUID()}, ${n}, ${Date.now()}) RETURNING id`;
        await tx`INSERT INTO e (pid, type, at) VALUES (${row!.id}, 'created', ${Date.now()})`;
      }),
    close: () => sql.end(),
  };
}

/** Operations per second with CONCURRENCY callers for SECONDS. */
async function rate(op: (i: number) => Promise<unknown>): Promise<number> {
  const until = performance.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await op(done);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

const drivers = [bunSql(), postgresJs()];
const ids = await Promise.all(Array.from({ length: 2000 }, (_, i) => drivers[0]!.insert(i + 1)));
const results = new Map<string, number[]>();
const keep = (k: string, v: number) => results.set(k, [...(results.get(k) ?? []), v]);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? [...drivers].reverse() : drivers;
  for (const d of order) {
    keep(`${d.name} insert`, await rate((i) => d.insert(i + 1)));
    keep(`${d.name} select`, await rate((i) => d.select(ids[i % ids.length]!)));
    keep(`${d.name} update`, await rate((i) => d.update(ids[i % ids.length]!)));
    keep(`${d.name} transaction`, await rate((i) => d.transaction(i + 1)));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| operation | Bun SQL | postgres.js | Bun SQL / postgres.js |`);
console.log(`|---|---:|---:|---:|`);
for (const op of ["insert", "select", "update", "transaction"]) {
  const b = median(results.get(`Bun SQL ${op}`)!);
  const p = median(results.get(`postgres.js ${op}`)!);
  console.log(`| ${op} | ${b.toFixed(0)}/s | ${p.toFixed(0)}/s | ${(b / p).toFixed(2)} |`);
}
for (const d of drivers) await d.close();
await pg.destroy();
