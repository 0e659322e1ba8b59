/**
 * What a transaction costs the instance on Bun's SQL client (issue 12's profile): client CPU and throughput of
 * one autocommit INSERT, the same inside `sql.begin`, two INSERTs inside `sql.begin` or on a reserved
 * connection with BEGIN/COMMIT, and two INSERTs in one autocommit CTE; pool 10, 32 concurrent callers, against a
 * test cluster (fsync off: the client's side is what is measured). Prints a markdown table.
 *   node_modules/.bin/bun bench/pg-transactions.ts
 */
import { SQL } from "bun";
import { startPostgres } from "../test/postgres.ts";

const OPS = 4000;
const CONCURRENCY = 32;
const ROUNDS = 3;

const pg = await startPostgres();
const sql = new SQL({ url: await pg.createDatabase("transactions"), max: 10 });
await sql.unsafe("CREATE TABLE t (id bigserial PRIMARY KEY, v bigint NOT NULL, s text NOT NULL)");
const insert = "INSERT INTO t (v, s) VALUES ($1, $2) RETURNING id";

const variants: Array<[string, () => Promise<unknown>]> = [
  ["one autocommit INSERT", () => sql.unsafe(insert, [1, "x"])],
  ["one INSERT in sql.begin", () => sql.begin((tx) => tx.unsafe(insert, [1, "x"]))],
  [
    "two INSERTs in sql.begin",
    () =>
      sql.begin(async (tx) => {
        await tx.unsafe(insert, [1, "x"]);
        await tx.unsafe(insert, [2, "y"]);
      }),
  ],
  [
    "two INSERTs, reserved connection, BEGIN/COMMIT",
    async () => {
      const c = await sql.reserve();
      try {
        await c.unsafe("BEGIN");
        await c.unsafe(insert, [1, "x"]);
        await c.unsafe(insert, [2, "y"]);
        await c.unsafe("COMMIT");
      } finally {
        c.release();
      }
    },
  ],
  [
    "two INSERTs in one autocommit CTE",
    () =>
      sql.unsafe(
        "WITH a AS (INSERT INTO t (v, s) VALUES ($1, $2) RETURNING id) INSERT INTO t (v, s) SELECT id, $3 FROM a",
        [1, "x", "y"],
      ),
  ],
];

async function measure(op: () => Promise<unknown>): Promise<{ cpu: number; rate: number }> {
  for (let i = 0; i < 200; i++) await op();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started < OPS) {
        started++;
        await op();
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { cpu: (cpu.user + cpu.system) / OPS, rate: OPS / ((performance.now() - t0) / 1000) };
}

const results = new Map<string, Array<{ cpu: number; rate: number }>>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, op] of variants) {
    const list = results.get(name) ?? [];
    list.push(await measure(op));
    results.set(name, list);
  }
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log("| statement(s) | client CPU µs per operation | operations/s |\n|---|---:|---:|");
for (const [name, list] of results) {
  console.log(
    `| ${name} | ${median(list.map((x) => x.cpu)).toFixed(0)} | ${Math.round(median(list.map((x) => x.rate))).toLocaleString("en-US")} |`,
  );
}
await sql.close();
await pg.stop();
process.exit(0);
