/**
 * The PostgreSQL group of the benchmarks (issue 12). Starts a PostgreSQL cluster of its own with the
 * defaults' durability (fsync on), Redis, the real server on PostgreSQL and on SQLite (same disk), and two
 * minimal Bun.serve ceilings on the same driver and pool (one INSERT … RETURNING; one conditional UPDATE);
 * drives them with wrk in interleaved rounds and reports medians of per-round ratios, plus the CPU each process
 * spends per request (instance, PostgreSQL, Redis, wrk) at one and at two instances, so that what N hosts would
 * serve can be computed. Writes its section of docs/benchmarks.md between its markers.
 * With `--baseline <dir>` the real server of another checkout (its own database) runs in the same rounds too,
 * for a change's before/after.
 *   node_modules/.bin/bun bench/postgres.ts [--quick] [--out <file>] [--no-report] [--baseline <dir>]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { runMigrations } from "../src/db/postgres/client.ts";
import { startPostgres } from "../test/postgres.ts";
import { startRedis } from "../test/redis.ts";
import { cpuSeconds, ROOT, type Served, startServer } from "./lib/proc.ts";
import { replaceSection } from "./lib/section.ts";
import { type PendingPayment, signature } from "./lib/seed.ts";
import { fmt, median } from "./lib/stats.ts";
import { runLoad } from "./lib/wrk.ts";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const OUT = argv.includes("--out") ? argv[argv.indexOf("--out") + 1]! : join(ROOT, "docs/benchmarks.md");
const REPORT = !argv.includes("--no-report");
const BASELINE = argv.includes("--baseline") ? argv[argv.indexOf("--baseline") + 1]! : undefined;
const ROUNDS = QUICK ? 2 : 5;
const SECONDS = QUICK ? 3 : 5;
const CONNECTIONS = 32;
const POOL = 10;
const API_KEY = "sk_bench_0123456789abcdef0123";
const WEBHOOK_SECRET = `whsec_${Buffer.from("bench-webhook-secret-32-bytes-long!").toString("base64")}`;
const MARK_START = "<!-- postgres:start -->";
const MARK_END = "<!-- postgres:end -->";

const started = Date.now();
const log = (...a: unknown[]) => console.log(`[${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a);
const work = mkdtempSync(join(tmpdir(), "bench-pg-"));
const pg = await startPostgres({ durable: true });
const redis = await startRedis();
const servers: Served[] = [];

/** A fresh, migrated database of the cluster. */
async function database(name: string): Promise<string> {
  const url = await pg.createDatabase(name);
  await runMigrations(url);
  return url;
}

const appEnv = (databaseUrl: string) => ({
  NODE_ENV: "production",
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: String(POOL),
  REDIS_URL: redis.url,
  API_KEYS: API_KEY,
  WEBHOOK_SECRET,
  PUBLIC_URL: "https://pay.example.com",
  PIX_KEY: "loja@example.com",
  LOG_LEVEL: "info",
});

async function serve(name: string, script: string, env: Record<string, string>): Promise<Served> {
  const s = await startServer({ name, script, env, cwd: work, logFile: join(work, `${name}.log`) });
  servers.push(s);
  return s;
}

/** Every process of the cluster (the postmaster and its children), for their CPU time. */
function postgresPids(): number[] {
  const root = pg.pid();
  if (!root) return [];
  const pids = [root];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === root) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

/** Pending payments straight into a database, as the API would have created them. */
async function addPending(url: string, count: number): Promise<PendingPayment[]> {
  const sql = new SQL({ url, max: 1 });
  const now = Date.now();
  const out: PendingPayment[] = [];
  try {
    for (let done = 0; done < count; done += 500) {
      const rows = Array.from({ length: Math.min(500, count - done) }, (_, i) => {
        const p = { bankPaymentId: crypto.randomUUID(), cents: 100 + ((done + i) % 100_000) };
        out.push(p);
        return `('${p.bankPaymentId}', ${p.cents}, 'pending', '${"0".repeat(150)}', ${now}, ${now + 7_200_000})`;
      });
      await sql.unsafe(
        `WITH p AS (INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at)
           VALUES ${rows.join(", ")} RETURNING id)
         INSERT INTO payment_events (payment_id, type, at) SELECT id, 'created', ${now} FROM p`,
      );
    }
  } finally {
    await sql.close();
  }
  return out;
}

async function countPaid(url: string, batch: PendingPayment[]): Promise<number> {
  const sql = new SQL({ url, max: 1 });
  try {
    // In chunks: the wire protocol takes at most 65,535 parameters per query.
    let paid = 0;
    for (let i = 0; i < batch.length; i += 10_000) {
      const ids = batch.slice(i, i + 10_000).map((p) => p.bankPaymentId);
      const [row] = await sql`SELECT count(*)::int AS n FROM payments
        WHERE status = 'paid' AND bank_payment_id IN ${sql(ids)}`;
      paid += row.n as number;
    }
    return paid;
  } finally {
    await sql.close();
  }
}

/** One request per payment, in a file wrk replays: signed for the real server, plain for the ceiling. */
function confirmFile(name: string, batch: PendingPayment[], signed: boolean): string {
  const file = join(work, `${name}.req`);
  const timestamp = Math.floor(Date.now() / 1000);
  const records = batch.map((p, i) => {
    const body = JSON.stringify({ bank_payment_id: p.bankPaymentId, value: p.cents / 100 });
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (signed) {
      const id = `msg_pg_${timestamp}_${i}_${p.bankPaymentId.slice(0, 8)}`;
      headers["webhook-id"] = id;
      headers["webhook-timestamp"] = String(timestamp);
      headers["webhook-signature"] = signature(WEBHOOK_SECRET, id, timestamp, body);
    }
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    return `POST /payments/pix/confirmation HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  });
  writeFileSync(file, records.join("\0"));
  return file;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  /** CPU µs per request: the server process(es), PostgreSQL, Redis, wrk. */
  cpu: { instance: number; postgres: number; redis: number; wrk: number };
  errors: number;
  real?: number;
}
const samples = new Map<string, Sample[]>();
const keep = (id: string, s: Sample) => samples.set(id, [...(samples.get(id) ?? []), s]);

/** wrk against `targets` at once (connections split between them), with the CPU of every process. */
async function measure(
  targets: Served[],
  spec: (t: Served, i: number) => Parameters<typeof runLoad>[1],
): Promise<Omit<Sample, "real">> {
  const pgPids = postgresPids();
  const redisPid = redis.pid();
  const before = {
    instances: targets.map((t) => cpuSeconds(t.pid)),
    postgres: cpuOf(pgPids),
    redis: redisPid ? cpuSeconds(redisPid) : 0,
  };
  const results = await Promise.all(
    targets.map((t, i) =>
      runLoad(t.url, spec(t, i), {
        connections: CONNECTIONS / targets.length,
        seconds: SECONDS,
        serverPid: t.pid,
      }),
    ),
  );
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const perRequest = (seconds: number) => (requests > 0 ? (seconds * 1e6) / requests : NaN);
  const instanceCpu = targets.reduce((sum, t, i) => sum + cpuSeconds(t.pid) - before.instances[i]!, 0);
  return {
    rps: results.reduce((n, r) => n + r.rps, 0),
    p50: median(results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    cpu: {
      instance: perRequest(instanceCpu),
      postgres: perRequest(cpuOf(pgPids) - before.postgres),
      redis: perRequest((redisPid ? cpuSeconds(redisPid) : 0) - before.redis),
      wrk: perRequest(results.reduce((sum, r) => sum + r.generatorCpu * (SECONDS / 100), 0)),
    },
    errors: results.reduce((n, r) => n + r.errors + r.non2xx, 0),
  };
}

const createSpec = (t: Served, i: number) =>
  ({
    kind: "template",
    method: "POST",
    path: "/payments",
    auth: t.name.startsWith("ceiling") ? "" : `Bearer ${API_KEY}`,
    keyPrefix: `${t.name}-${i}`,
  }) as const;

async function main() {
  log(`PostgreSQL benchmark: ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections, pool ${POOL}`);
  const dbs = {
    real: await database("bench_real"),
    ceilingCreate: await database("bench_ceiling_create"),
    ceilingConfirm: await database("bench_ceiling_confirm"),
  };
  const real = await serve("real-postgres", join(ROOT, "src/index.ts"), appEnv(dbs.real));
  const second = await serve("real-postgres-b", join(ROOT, "src/index.ts"), appEnv(dbs.real));
  const baselineDb = BASELINE ? await database("bench_baseline") : "";
  const baseline = BASELINE
    ? await serve("baseline-postgres", join(BASELINE, "src/index.ts"), appEnv(baselineDb))
    : undefined;
  const sqlite = await serve("real-sqlite", join(ROOT, "src/index.ts"), {
    ...appEnv(join(work, "sqlite/payments.sqlite")),
    REDIS_URL: redis.url,
  });
  const ceilingEnv = { DATABASE_URL: "", DATABASE_POOL_SIZE: String(POOL) };
  const ceilCreate = await serve("ceiling-insert", join(ROOT, "bench/ceilings/pg-insert.ts"), {
    ...ceilingEnv,
    DATABASE_URL: dbs.ceilingCreate,
  });
  const ceilConfirm = await serve("ceiling-confirm", join(ROOT, "bench/ceilings/pg-confirm.ts"), {
    ...ceilingEnv,
    DATABASE_URL: dbs.ceilingConfirm,
  });

  // Warm-up: every variant once, not recorded.
  for (const t of [real, sqlite, ceilCreate, ...(baseline ? [baseline] : [])])
    await runLoad(t.url, createSpec(t, 9), { connections: 8, seconds: 1, serverPid: t.pid });

  for (let round = 0; round < ROUNDS; round++) {
    const flip = round % 2 === 1;
    const creates: Array<[string, Served[]]> = [
      ["create real", [real]],
      ["create ceiling", [ceilCreate]],
      ["create sqlite", [sqlite]],
      ["create real ×2", [real, second]],
      ...(baseline ? ([["create baseline", [baseline]]] as Array<[string, Served[]]>) : []),
    ];
    for (const [id, targets] of flip ? [...creates].reverse() : creates) {
      const s = await measure(targets, createSpec);
      keep(id, s);
      log(`round ${round + 1} ${id}: ${fmt(s.rps)} req/s, p99 ${fmt(s.p99, 1)} ms, errors ${s.errors}`);
    }
    const want = Math.ceil(SECONDS * 20_000);
    const confirms: Array<[string, Served[], string, boolean]> = [
      ["confirm real", [real], dbs.real, true],
      ["confirm ceiling", [ceilConfirm], dbs.ceilingConfirm, false],
      ...(baseline
        ? ([["confirm baseline", [baseline], baselineDb, true]] as Array<[string, Served[], string, boolean]>)
        : []),
    ];
    for (const [id, targets, url, signed] of flip ? [...confirms].reverse() : confirms) {
      const batch = await addPending(url, want);
      const file = confirmFile(id.replace(" ", "-"), batch, signed);
      const s = await measure(targets, () => ({ kind: "file", path: "/payments/pix/confirmation", file }));
      const real = await countPaid(url, batch);
      keep(id, { ...s, real });
      log(`round ${round + 1} ${id}: ${fmt(s.rps)} req/s, ${real} real transitions, errors ${s.errors}`);
    }
  }
  report();
}

/** The baseline checkout's commit, as `git log -1` gives it. */
function baselineCommit(): string {
  const out = Bun.spawnSync(["git", "-C", BASELINE!, "log", "-1", "--format=%h %s"]).stdout.toString().trim();
  return out ? `commit ${out.slice(0, 72)}` : "not a git checkout";
}

/** Median over rounds of a/b, each taken within one round. */
function ratio(a: string, b: string): number {
  const xs = samples.get(a) ?? [];
  const ys = samples.get(b) ?? [];
  return median(xs.map((x, i) => x.rps / (ys[i]?.rps ?? NaN)));
}
const med = (id: string, f: (s: Sample) => number) => median((samples.get(id) ?? []).map(f));

function report() {
  const rows = [
    ["create real", "REST create, real server on PostgreSQL"],
    ["create ceiling", "ceiling: one INSERT … RETURNING (Bun SQL, pool 10)"],
    ["create sqlite", "REST create, real server on SQLite (same disk)"],
    ["create real ×2", "REST create, two real instances on one PostgreSQL"],
    ["confirm real", "signed confirmation, real server on PostgreSQL"],
    ["confirm ceiling", "ceiling: one conditional UPDATE … RETURNING + publish"],
  ] as const;
  const targets = [
    ["create on PostgreSQL / its ceiling", ratio("create real", "create ceiling"), 0.6],
    ["confirmation on PostgreSQL / its ceiling", ratio("confirm real", "confirm ceiling"), 0.6],
    ["create on PostgreSQL / create on SQLite", ratio("create real", "create sqlite"), 0.5],
  ] as const;
  const lines = [
    MARK_START,
    "## PostgreSQL (issue 12)",
    "",
    `Generated by \`node_modules/.bin/bun bench/postgres.ts${QUICK ? " --quick" : ""}${BASELINE ? ` --baseline ${BASELINE}` : ""}\` on ${new Date().toISOString()}, ` +
      `${ROUNDS} rounds of ${SECONDS} s at ${CONNECTIONS} connections, in ${((Date.now() - started) / 60_000).toFixed(1)} min; ` +
      `load average at the end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}.`,
    "PostgreSQL 15 is a cluster of the run's own with its default durability (fsync on, synchronous_commit on),",
    "on the same disk as the SQLite file; every server (and PostgreSQL, unpinned) shares this machine's 2 cores",
    "with wrk (pinned to core 1), Redis is started too (REDIS_URL set for every real server). Ratios are medians",
    "of per-round ratios; within a round the variants run back to back and the order flips every other round.",
    "",
    "| target | measured | goal | result |",
    "|---|---:|---|---|",
    ...targets.map(
      ([name, value, goal]) => `| ${name} | ${fmt(value, 2)} | ≥ ${goal} | ${value >= goal ? "met" : "**not met**"} |`,
    ),
    "",
    "| variant | req/s | p50 ms | p99 ms | instance CPU µs/req | PostgreSQL µs/req | Redis µs/req | wrk µs/req |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      ([id, label]) =>
        `| ${label} | ${fmt(med(id, (s) => s.rps))} | ${fmt(
          med(id, (s) => s.p50),
          2,
        )} | ${fmt(
          med(id, (s) => s.p99),
          2,
        )} | ${fmt(med(id, (s) => s.cpu.instance))} | ${fmt(
          med(id, (s) => s.cpu.postgres),
        )} | ${fmt(med(id, (s) => s.cpu.redis))} | ${fmt(med(id, (s) => s.cpu.wrk))} |`,
    ),
    "",
    ...(BASELINE
      ? [
          `Against the baseline: the real server of \`${BASELINE}\` (${baselineCommit()}), on a database of its own, in the same rounds:`,
          "",
          "| variant | baseline req/s | this req/s | this / baseline (median of rounds) | baseline instance µs/req | this instance µs/req | baseline PostgreSQL µs/req | this PostgreSQL µs/req |",
          "|---|---:|---:|---:|---:|---:|---:|---:|",
          ...(
            [
              ["REST create", "create real", "create baseline"],
              ["signed confirmation", "confirm real", "confirm baseline"],
            ] as const
          ).map(
            ([label, now, before]) =>
              `| ${label} | ${fmt(med(before, (s) => s.rps))} | ${fmt(med(now, (s) => s.rps))} | ${fmt(ratio(now, before), 2)} | ` +
              `${fmt(med(before, (s) => s.cpu.instance))} | ${fmt(med(now, (s) => s.cpu.instance))} | ` +
              `${fmt(med(before, (s) => s.cpu.postgres))} | ${fmt(med(now, (s) => s.cpu.postgres))} |`,
          ),
          "",
        ]
      : []),
    `Confirmations: ${fmt(med("confirm real", (s) => s.real ?? 0))} real pending → paid transitions per run (median).`,
    "CPU per request is each process's user + system time over the run divided by the requests answered; for two",
    "instances the instance column sums both. A host serving N instances needs about N × the instance figure of CPU",
    "per request, and the shared PostgreSQL the PostgreSQL figure for all of them.",
    MARK_END,
  ];
  const section = lines.join("\n");
  console.log(`\n${section}\n`);
  if (!REPORT) return;
  replaceSection(OUT, "postgres", section);
  log(`wrote the PostgreSQL section of ${OUT}`);
}

try {
  await main();
} finally {
  for (const s of servers) await s.stop();
  await redis.stop();
  await pg.destroy();
  rmSync(work, { recursive: true, force: true });
}
