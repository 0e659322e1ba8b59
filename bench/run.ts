/**
 * `npm run bench`: the HTTP benchmark suite of issue 5. Starts every server it needs (ceilings and the real
 * app, pinned to core 0), drives them with wrk pinned to core 1, alternates ceiling and real variants over
 * several rounds, and writes docs/benchmarks.md from scratch. Flags:
 *   --quick            short run for development (2 rounds, 2 s, smaller tables; not for publishing)
 *   --baseline <dir>   also run the real server from another checkout (before/after of perf changes)
 *   --out <file>       where to write the report (default docs/benchmarks.md)
 *   --only <groups>    development A/B: only these groups (create,get,confirm,qr), disk only, no growth,
 *                      sustained or fan-out runs, and no report (the per-round lines and medians are printed)
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { encodeCursor } from "../src/payments/service.ts";
import { describeMachine } from "./lib/machine.ts";
import { BUN, LOADGEN_CPU, ROOT, SERVER_CPU, type Served, startServer } from "./lib/proc.ts";
import {
  addPendingPayments,
  countPaid,
  merchantOf,
  seedDatabase,
  signature,
  truncateWal,
  writeConfirmRequests,
  writeGetRequests,
  writeQrRequests,
} from "./lib/seed.ts";
import { fmt, median } from "./lib/stats.ts";
import { type LoadResult, type LoadSpec, runLoad } from "./lib/wrk.ts";

// ---------------------------------------------------------------------------------------------- settings
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag("--quick");
let BASELINE = option("--baseline");
const ONLY = option("--only")?.split(",");
const OUT = option("--out") ?? join(ROOT, "docs/benchmarks.md");
const ROUNDS = QUICK ? 2 : 5;
const SECONDS = QUICK ? 2 : 5;
const WARMUP_SECONDS = QUICK ? 1 : 3;
const CONNECTIONS = 32;
const SEED_ROWS = QUICK ? 20_000 : 100_000;
const GROWTH_SIZES = QUICK ? [1_000, 10_000, 100_000] : [1_000, 100_000, 1_000_000];
const GROWTH_REPEATS = 3;
const GROWTH_SECONDS = QUICK ? 1 : 3;
const GROWTH_CONNECTIONS = 1;
const SUSTAIN_SECONDS = QUICK ? 10 : 60;
const GENERATOR_LIMIT = 90;
const LOG_LEVEL_MAIN = "info";

const API_KEY = "sk_bench_0123456789abcdef0123";
const AUTH = `Bearer ${API_KEY}`;
const WEBHOOK_SECRET = `whsec_${Buffer.from("bench-webhook-secret-32-bytes-long!").toString("base64")}`;
let COMMAND = `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;

const startedAt = new Date();
const log = (...a: unknown[]) =>
  console.log(`[bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)}s]`, ...a);

// Our HMAC must be the one standardwebhooks verifies, or every confirmation would be a 401.
{
  const probe = new Webhook(WEBHOOK_SECRET).sign("msg_probe", new Date(1_700_000_000_000), '{"a":1}');
  if (probe !== signature(WEBHOOK_SECRET, "msg_probe", 1_700_000_000, '{"a":1}')) throw new Error("signature mismatch");
}

// ---------------------------------------------------------------------------------------------- processes
const started: Served[] = [];
const dirs: string[] = [];
async function stopAll() {
  await Promise.all(started.splice(0).map((s) => s.stop().catch(() => {})));
}
async function cleanup() {
  await stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void cleanup().then(() => process.exit(130));
  });
}

function workDir(base: string, prefix: string): string {
  const d = mkdtempSync(join(base, prefix));
  dirs.push(d);
  return d;
}

async function ceiling(name: string, file: string, dir: string, database?: string): Promise<Served> {
  const s = await startServer({
    name,
    script: join(ROOT, "bench/ceilings", file),
    env: database ? { DATABASE_URL: database } : {},
    cwd: dir,
    logFile: join(dir, `${name}.log`),
  });
  started.push(s);
  return s;
}

async function realServer(name: string, dir: string, database: string, logLevel: string, root = ROOT): Promise<Served> {
  const s = await startServer({
    name,
    script: join(root, "src/index.ts"),
    env: {
      NODE_ENV: "production",
      DATABASE_URL: database,
      API_KEYS: API_KEY,
      WEBHOOK_SECRET,
      // Production needs both; the same lengths as the defaults (demo key, localhost with a 5-digit port), so
      // the links and BR Codes measured are as long as before.
      PUBLIC_URL: "http://localhost:40000",
      PIX_KEY: "7d4a5f1c-2b3e-4c8d-9e0f-1a2b3c4d5e6f",
      LOG_LEVEL: logLevel,
    },
    cwd: dir,
    logFile: join(dir, `${name}.log`),
  });
  started.push(s);
  return s;
}

// ---------------------------------------------------------------------------------------------- scenarios
type Kind = "json" | "create" | "get" | "list" | "confirm" | "qr";

interface Variant {
  id: string;
  label: string;
  server: Served;
  kind: Kind;
  /** Real app variants: the path they call (REST or tRPC). */
  path?: string;
  /** Needs the merchant key. */
  auth?: boolean;
  /** Signed webhooks (real) or plain (ceiling). */
  signed?: boolean;
  database?: string;
  requestFile?: string;
}

interface Sample extends LoadResult {
  round: number;
  transitions?: number;
}

const samples = new Map<string, Sample[]>();
let keyCounter = 0;
const lastRps = new Map<string, number>();
const walWatch = new Map<string, number>();

async function measure(v: Variant, seconds: number, connections: number, round: number): Promise<Sample> {
  let spec: LoadSpec;
  let batch: ReturnType<typeof addPendingPayments> | undefined;
  switch (v.kind) {
    case "json":
    case "create":
      spec = {
        kind: "template",
        method: "POST",
        path: v.path ?? "/payments",
        auth: v.auth ? AUTH : "",
        keyPrefix: `k${++keyCounter}`,
      };
      break;
    case "get":
    case "list":
      spec = { kind: "file", path: "/payments", file: v.requestFile! };
      break;
    case "qr":
      spec = { kind: "file", path: "/pay", file: v.requestFile! };
      break;
    case "confirm": {
      // Fresh pending payments for this run, one signed delivery each: every request is a real transition
      // until the list runs out; after that wrk starts over and the rest are valid repeats (counted below).
      const expected = Math.max(lastRps.get(v.id) ?? 0, v.signed ? 4_000 : 15_000);
      const size = Math.min(400_000, Math.ceil(expected * seconds * 1.6));
      batch = addPendingPayments(v.database!, size);
      writeConfirmRequests(v.requestFile!, batch, v.signed ? WEBHOOK_SECRET : null);
      spec = { kind: "file", path: "/payments/pix/confirmation", file: v.requestFile! };
      break;
    }
  }
  const r = await runLoad(v.server.url, spec, { connections, seconds, serverPid: v.server.pid });
  const sample: Sample = { ...r, round };
  if (batch) sample.transitions = countPaid(v.database!, batch);
  lastRps.set(v.id, Math.max(r.rps, lastRps.get(v.id) ?? 0));
  return sample;
}

function record(v: Variant, s: Sample) {
  const list = samples.get(v.id) ?? [];
  list.push(s);
  samples.set(v.id, list);
  const flagGen = s.generatorCpu >= GENERATOR_LIMIT ? " GENERATOR-LIMITED" : "";
  log(
    `${v.id.padEnd(22)} r${s.round} ${fmt(s.rps).padStart(7)} req/s  p50 ${fmt(s.p50, 2)} ms  p99 ${fmt(s.p99, 2)} ms  ` +
      `gen ${fmt(s.generatorCpu)}%  srv ${fmt(s.serverCpu)}%  non2xx ${s.non2xx}  err ${s.errors}` +
      (s.transitions !== undefined ? `  transitions ${s.transitions}/${s.requests}` : "") +
      flagGen,
  );
}

/** Runs the groups round by round; within a group the order flips every round, so drift hits both sides. */
async function rounds(groups: Variant[][]) {
  for (const group of groups) for (const v of group) await measure(v, WARMUP_SECONDS, CONNECTIONS, 0);
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    for (const group of groups) {
      const order = round % 2 ? group : [...group].reverse();
      for (const v of order) record(v, await measure(v, SECONDS, CONNECTIONS, round));
    }
  }
}

function watchWal(name: string, database: string): () => void {
  const timer = setInterval(() => {
    try {
      const size = statSync(`${database}-wal`).size;
      if (size > (walWatch.get(name) ?? 0)) walWatch.set(name, size);
    } catch {}
  }, 100);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------------------------- summaries
const med = (id: string, f: (s: Sample) => number) => median((samples.get(id) ?? []).map(f));
/** Median over rounds of real/ceiling (or any a/b), each ratio taken within one round. */
function ratio(realId: string, ceilingId: string): number {
  const real = samples.get(realId) ?? [];
  const ceil = new Map((samples.get(ceilingId) ?? []).map((s) => [s.round, s.rps]));
  return median(real.filter((s) => ceil.has(s.round)).map((s) => s.rps / ceil.get(s.round)!));
}
/** Median over rounds of (ceiling CPU per request / real CPU per request): the noise-robust cross-check. */
function cpuRatio(realId: string, ceilingId: string): number {
  const real = samples.get(realId) ?? [];
  const ceil = new Map((samples.get(ceilingId) ?? []).map((s) => [s.round, s.cpuPerRequestUs]));
  return median(real.filter((s) => ceil.has(s.round)).map((s) => ceil.get(s.round)! / s.cpuPerRequestUs));
}
const genLimited = (id: string) => (samples.get(id) ?? []).some((s) => s.generatorCpu >= GENERATOR_LIMIT);

function variantTable(
  variants: Array<Pick<Variant, "id" | "label">>,
  ceilingOf: Record<string, string | undefined>,
): string {
  const rows = variants.map((v) => {
    const c = ceilingOf[v.id];
    const trans = (samples.get(v.id) ?? []).filter((s) => s.transitions !== undefined);
    const transitions = trans.length
      ? `${fmt(Math.min(100, (100 * trans.reduce((a, s) => a + s.transitions!, 0)) / trans.reduce((a, s) => a + s.requests, 0)), 1)}%`
      : "";
    return (
      `| ${v.label} | ${fmt(med(v.id, (s) => s.rps))} | ${fmt(
        med(v.id, (s) => s.p50),
        2,
      )} | ${fmt(
        med(v.id, (s) => s.p99),
        2,
      )} | ` +
      `${fmt(
        med(v.id, (s) => s.p99 / s.p50),
        1,
      )} | ${c ? fmt(ratio(v.id, c), 2) : ""} | ${fmt(med(v.id, (s) => s.cpuPerRequestUs))} | ` +
      `${c ? fmt(cpuRatio(v.id, c), 2) : ""} | ${fmt(med(v.id, (s) => s.serverCpu))}% | ` +
      `${fmt(med(v.id, (s) => s.generatorCpu))}%${genLimited(v.id) ? " ⚠" : ""} | ${transitions} | ${fmt(med(v.id, (s) => s.non2xx + s.errors))} |`
    );
  });
  return [
    "| variant | req/s (median) | p50 ms | p99 ms | p99/p50 | ratio to its ceiling (median of rounds) | server CPU µs/request | ceiling's CPU/request ÷ this one's | server CPU | wrk CPU | real transitions | non-2xx + errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

function roundsTable(ids: Array<[string, string]>): string {
  const header = `| variant | ${Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`).join(" | ")} |`;
  const sep = `|---|${Array.from({ length: ROUNDS }, () => "---:").join("|")}|`;
  const rows = ids.map(([id, label]) => {
    const byRound = new Map((samples.get(id) ?? []).map((s) => [s.round, s.rps]));
    return `| ${label} | ${Array.from({ length: ROUNDS }, (_, i) => fmt(byRound.get(i + 1) ?? NaN)).join(" | ")} |`;
  });
  return [header, sep, ...rows].join("\n");
}

// ---------------------------------------------------------------------------------------------- main
async function main() {
  const machine = describeMachine();
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores; bun ${machine.bun}; ${machine.wrk}`);
  const merchant = merchantOf(API_KEY);

  // One seeded file, copied for every server so each starts from the same data.
  const seedDir = workDir(tmpdir(), "pix-bench-seed-");
  const seedFile = join(seedDir, "seed.sqlite");
  let t = performance.now();
  seedDatabase(seedFile, SEED_ROWS, merchant);
  log(`seeded ${SEED_ROWS} payments in ${fmt((performance.now() - t) / 1000, 1)} s`);

  const media: Array<{
    name: "disk" | "tmpfs";
    base: string;
    variants: Variant[];
    groups: Variant[][];
    ceilingOf: Record<string, string>;
  }> = [];

  for (const medium of ONLY ? (["disk"] as const) : (["disk", "tmpfs"] as const)) {
    const dir = workDir(medium === "disk" ? tmpdir() : "/dev/shm", `pix-bench-${medium}-`);
    const copy = (name: string) => {
      const f = join(dir, name);
      copyFileSync(seedFile, f);
      return f;
    };
    const full = medium === "disk";
    const db = {
      insert: copy("ceiling-insert.sqlite"),
      createSql: copy("ceiling-create-sql.sqlite"),
      createSqlBatched: copy("ceiling-create-sql-batched.sqlite"),
      select: copy("ceiling-select.sqlite"),
      selectTrpc: copy("ceiling-select-trpc.sqlite"),
      confirm: copy("ceiling-confirm.sqlite"),
      confirmSql: copy("ceiling-confirm-sql.sqlite"),
      real: copy("real.sqlite"),
      warn: full ? copy("real-warn.sqlite") : "",
      base: full && BASELINE ? copy("baseline.sqlite") : "",
    };
    log(`${medium}: starting servers in ${dir}`);
    const c1 = full ? await ceiling("ceiling-json", "json.ts", dir) : undefined;
    const c2 = await ceiling("ceiling-insert", "insert.ts", dir, db.insert);
    const c2b = await ceiling("ceiling-create-sql", "create-sql.ts", dir, db.createSql);
    const c2c = await ceiling("ceiling-create-sql-batched", "create-sql-batched.ts", dir, db.createSqlBatched);
    const c3 = await ceiling("ceiling-select", "select.ts", dir, db.select);
    const c3b = await ceiling("ceiling-select-trpc", "select-trpc.ts", dir, db.selectTrpc);
    const c4 = await ceiling("ceiling-confirm", "confirm.ts", dir, db.confirm);
    const c4b = await ceiling("ceiling-confirm-sql", "confirm-sql.ts", dir, db.confirmSql);
    const real = await realServer("real-info", dir, db.real, LOG_LEVEL_MAIN);
    const warn = full ? await realServer("real-warn", dir, db.warn, "warn") : undefined;
    const base =
      full && BASELINE ? await realServer("baseline-info", dir, db.base, LOG_LEVEL_MAIN, BASELINE) : undefined;

    const getFile = (name: string, auth: boolean) => {
      const f = join(dir, `${name}.requests`);
      writeGetRequests(f, 50_000, SEED_ROWS, (id) => `/payments/${id}`, auth ? AUTH : undefined);
      return f;
    };
    const listFile = join(dir, "list.requests");
    {
      const records: string[] = [];
      for (let i = 0; i < 20_000; i++) {
        const before = 21 + Math.floor(Math.random() * (SEED_ROWS - 21));
        records.push(
          `GET /payments?limit=20&cursor=${encodeCursor(before)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\n\r\n`,
        );
      }
      writeFileSync(listFile, records.join("\0"));
    }
    const m = medium;
    const v = (x: Omit<Variant, "id"> & { id: string }): Variant => ({ ...x, id: `${m}:${x.id}` });
    const create: Variant[] = [
      ...(c1 ? [v({ id: "c1-json", label: "ceiling (1) fixed JSON", server: c1, kind: "json" })] : []),
      v({ id: "c2-insert", label: "ceiling (2) one prepared INSERT", server: c2, kind: "create" }),
      v({ id: "c2b-create-sql", label: "yardstick (2b) the create's SQL only", server: c2b, kind: "create" }),
      v({
        id: "c2c-create-sql-batched",
        label: "yardstick (2c) the create's SQL, group-committed",
        server: c2c,
        kind: "create",
      }),
      v({
        id: "rest-create",
        label: `REST POST /payments (log ${LOG_LEVEL_MAIN})`,
        server: real,
        kind: "create",
        path: "/payments",
        auth: true,
      }),
      v({
        id: "trpc-create",
        label: `tRPC payments.create (log ${LOG_LEVEL_MAIN})`,
        server: real,
        kind: "create",
        path: "/trpc/payments.create",
        auth: true,
      }),
      ...(warn
        ? [
            v({
              id: "rest-create-warn",
              label: "REST POST /payments (log warn)",
              server: warn,
              kind: "create",
              path: "/payments",
              auth: true,
            }),
          ]
        : []),
      ...(base
        ? [
            v({
              id: "base-rest-create",
              label: "baseline: REST POST /payments (log info)",
              server: base,
              kind: "create",
              path: "/payments",
              auth: true,
            }),
          ]
        : []),
      ...(base
        ? [
            v({
              id: "base-trpc-create",
              label: "baseline: tRPC payments.create (log info)",
              server: base,
              kind: "create",
              path: "/trpc/payments.create",
              auth: true,
            }),
          ]
        : []),
    ];
    const get: Variant[] = [
      v({
        id: "c3-select",
        label: "ceiling (3) one prepared SELECT by id",
        server: c3,
        kind: "get",
        requestFile: getFile("c3", false),
      }),
      v({
        id: "c3b-select-trpc",
        label: "yardstick (3b) ceiling (3) inside a tRPC procedure",
        server: c3b,
        kind: "get",
        requestFile: getFile("c3b", true),
      }),
      v({
        id: "rest-get",
        label: `REST GET /payments/{id} (log ${LOG_LEVEL_MAIN})`,
        server: real,
        kind: "get",
        requestFile: getFile("real-get", true),
      }),
      ...(warn
        ? [
            v({
              id: "rest-get-warn",
              label: "REST GET /payments/{id} (log warn)",
              server: warn,
              kind: "get",
              requestFile: getFile("warn-get", true),
            }),
          ]
        : []),
      ...(base
        ? [
            v({
              id: "base-rest-get",
              label: "baseline: REST GET /payments/{id}",
              server: base,
              kind: "get",
              requestFile: getFile("base-get", true),
            }),
          ]
        : []),
      ...(full
        ? [
            v({
              id: "rest-list",
              label: `REST GET /payments?limit=20&cursor=… (log ${LOG_LEVEL_MAIN})`,
              server: real,
              kind: "list",
              requestFile: listFile,
            }),
          ]
        : []),
    ];
    const confirm: Variant[] = [
      v({
        id: "c4-confirm",
        label: "ceiling (4) conditional UPDATE + publish",
        server: c4,
        kind: "confirm",
        database: db.confirm,
        requestFile: join(dir, "c4.requests"),
      }),
      v({
        id: "c4b-confirm-sql",
        label: "yardstick (4b) the confirmation's SQL only",
        server: c4b,
        kind: "confirm",
        database: db.confirmSql,
        requestFile: join(dir, "c4b.requests"),
      }),
      v({
        id: "rest-confirm",
        label: `REST signed confirmation (log ${LOG_LEVEL_MAIN})`,
        server: real,
        kind: "confirm",
        signed: true,
        database: db.real,
        requestFile: join(dir, "real-confirm.requests"),
      }),
      ...(base
        ? [
            v({
              id: "base-rest-confirm",
              label: "baseline: REST signed confirmation",
              server: base,
              kind: "confirm",
              signed: true,
              database: db.base,
              requestFile: join(dir, "base-confirm.requests"),
            }),
          ]
        : []),
    ];
    // The payer's QR image (issue 10): 100 payments' PNGs, requested again and again; no ceiling.
    const qrFile = (name: string, database: string) => {
      const f = join(dir, `${name}.requests`);
      writeQrRequests(f, database, 100, 20_000);
      return f;
    };
    const qr: Variant[] = [
      v({
        id: "rest-qr",
        label: `GET /pay/{id}/qr.png, 100 payments (log ${LOG_LEVEL_MAIN})`,
        server: real,
        kind: "qr",
        requestFile: qrFile("real-qr", db.real),
      }),
      ...(base
        ? [
            v({
              id: "base-rest-qr",
              label: "baseline: GET /pay/{id}/qr.png, 100 payments",
              server: base,
              kind: "qr",
              requestFile: qrFile("base-qr", db.base),
            }),
          ]
        : []),
    ];
    const ceilingOf: Record<string, string> = {};
    for (const x of create) if (!x.id.includes(":c")) ceilingOf[x.id] = `${m}:c2-insert`;
    ceilingOf[`${m}:c2b-create-sql`] = `${m}:c2-insert`;
    ceilingOf[`${m}:c2c-create-sql-batched`] = `${m}:c2-insert`;
    for (const x of get) if (!x.id.includes(":c") && x.kind === "get") ceilingOf[x.id] = `${m}:c3-select`;
    for (const x of confirm) if (!x.id.includes(":c")) ceilingOf[x.id] = `${m}:c4-confirm`;
    ceilingOf[`${m}:c4b-confirm-sql`] = `${m}:c4-confirm`;
    ceilingOf[`${m}:c3b-select-trpc`] = `${m}:c3-select`;
    const groups = ONLY
      ? (
          [
            ["create", create],
            ["get", get],
            ["confirm", confirm],
            ["qr", qr],
          ] as const
        )
          .filter(([n]) => ONLY.includes(n))
          .map(([, g]) => g)
      : [create, get, confirm, qr];
    const stopWal = watchWal(`${m}:real`, db.real);
    await rounds(groups);
    stopWal();
    if (ONLY) {
      for (const x of groups.flat()) {
        const list = samples.get(x.id) ?? [];
        const ceiling = ceilingOf[x.id];
        log(
          `${x.label.padEnd(60)} median ${fmt(median(list.map((s) => s.rps)))} req/s  p50 ${fmt(median(list.map((s) => s.p50)), 2)} ms` +
            `  p99 ${fmt(median(list.map((s) => s.p99)), 2)} ms  CPU ${fmt(median(list.map((s) => s.cpuPerRequestUs)))} µs/req` +
            `  p99/p50 ${fmt(median(list.map((s) => s.p99 / s.p50)), 2)}` +
            (ceiling ? `  ratio ${fmt(ratio(x.id, ceiling), 2)}` : ""),
        );
      }
      await stopAll();
      return;
    }
    media.push({ name: m, base: dir, variants: groups.flat(), groups, ceilingOf });

    if (medium === "disk") {
      // Sustained writes: does the -wal file stay bounded?
      log(`sustained REST creates for ${SUSTAIN_SECONDS} s (WAL watch)`);
      truncateWal(db.real);
      const stop = watchWal("sustained", db.real);
      const sv = create.find((x) => x.id === `${m}:rest-create`)!;
      const s = await measure(sv, SUSTAIN_SECONDS, CONNECTIONS, 0);
      stop();
      samples.set("sustained", [s]);
      let walEnd = 0;
      try {
        walEnd = statSync(`${db.real}-wal`).size;
      } catch {}
      walWatch.set("sustained-end", walEnd);
      walWatch.set("real-db-size", statSync(db.real).size);
    }
    await stopAll();
  }

  // Cost as data grows: unloaded latency (1 connection) of create, get and list at 10^3, 10^5, 10^6 rows.
  const growth: Array<{ size: number; seedSeconds: number; create: Sample[]; get: Sample[]; list: Sample[] }> = [];
  for (const size of GROWTH_SIZES) {
    const dir = workDir(tmpdir(), "pix-bench-growth-");
    const file = join(dir, "payments.sqlite");
    t = performance.now();
    seedDatabase(file, size, merchant);
    const seedSeconds = (performance.now() - t) / 1000;
    log(`growth: seeded ${size} payments in ${fmt(seedSeconds, 1)} s`);
    const server = await realServer("growth", dir, file, LOG_LEVEL_MAIN);
    const getReq = join(dir, "get.requests");
    writeGetRequests(getReq, 50_000, size, (id) => `/payments/${id}`, AUTH);
    const listReq = join(dir, "list.requests");
    const records: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const before = 21 + Math.floor(Math.random() * (size - 21));
      records.push(
        `GET /payments?limit=20&cursor=${encodeCursor(before)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\n\r\n`,
      );
    }
    writeFileSync(listReq, records.join("\0"));
    const entry = { size, seedSeconds, create: [] as Sample[], get: [] as Sample[], list: [] as Sample[] };
    const variants: Array<[keyof typeof entry & ("create" | "get" | "list"), Variant]> = [
      ["create", { id: "g-create", label: "", server, kind: "create", path: "/payments", auth: true }],
      ["get", { id: "g-get", label: "", server, kind: "get", requestFile: getReq }],
      ["list", { id: "g-list", label: "", server, kind: "list", requestFile: listReq }],
    ];
    for (const [, gv] of variants) await measure(gv, 1, GROWTH_CONNECTIONS, 0);
    for (let rep = 1; rep <= GROWTH_REPEATS; rep++) {
      for (const [k, gv] of variants) {
        const s = await measure(gv, GROWTH_SECONDS, GROWTH_CONNECTIONS, rep);
        entry[k].push(s);
        log(
          `growth ${size} ${k} rep ${rep}: p50 ${fmt(s.p50, 3)} ms p99 ${fmt(s.p99, 3)} ms ${fmt(s.rps)} req/s non2xx ${s.non2xx}`,
        );
      }
    }
    growth.push(entry);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }

  // The WebSocket fan-out benchmark (bench/fanout.ts) is its own program; run it if it is there.
  let fanout = "";
  const fanoutScript = join(ROOT, "bench/fanout.ts");
  if (existsSync(fanoutScript)) {
    log("running bench/fanout.ts");
    const fanoutOut = join(workDir(tmpdir(), "pix-bench-fanout-"), "fanout.md");
    const proc = Bun.spawn(
      [BUN, fanoutScript, "--out", fanoutOut, "--repeats", "3", ...(QUICK ? ["--sizes", "1000"] : [])],
      { cwd: ROOT, stdout: "inherit", stderr: "inherit" },
    );
    const timer = setTimeout(() => proc.kill("SIGTERM"), 12 * 60_000);
    const code = await proc.exited;
    clearTimeout(timer);
    if (existsSync(fanoutOut)) {
      fanout = readFileSync(fanoutOut, "utf8")
        .replace(/^# .*\n/, "")
        .trim();
    } else {
      fanout = `bench/fanout.ts exited with code ${code} without writing its section; see its output.`;
    }
  }

  const finishedAt = new Date();
  const state: ReportInput = {
    machine,
    media: media.map((x) => ({
      name: x.name,
      variants: x.variants.map((v) => ({ id: v.id, label: v.label })),
      ceilingOf: x.ceilingOf,
    })),
    growth,
    fanout,
    startedAt,
    finishedAt,
    seedRows: SEED_ROWS,
    loadAverage: readFileSync("/proc/loadavg", "utf8").trim(),
    baselineCommit: baselineCommit(),
  };
  // The raw figures, so the report can be re-rendered (`--render <file>`) without measuring again.
  const raw = join(tmpdir(), "pix-bench-last-run.json");
  writeFileSync(raw, JSON.stringify({ state, samples: [...samples], walWatch: [...walWatch], command: COMMAND }));
  log(`raw results in ${raw}`);
  writeReport(state);
  log(`wrote ${OUT} in ${fmt((finishedAt.getTime() - startedAt.getTime()) / 60000, 1)} min`);
}

// ---------------------------------------------------------------------------------------------- report
interface ReportInput {
  machine: ReturnType<typeof describeMachine>;
  media: Array<{ name: string; variants: Array<Pick<Variant, "id" | "label">>; ceilingOf: Record<string, string> }>;
  growth: Array<{ size: number; seedSeconds: number; create: Sample[]; get: Sample[]; list: Sample[] }>;
  fanout: string;
  startedAt: Date;
  finishedAt: Date;
  seedRows: number;
  /** Read when the run ends, so that --render reports the run, not the moment of rendering. */
  loadAverage?: string;
  baselineCommit?: string;
}

/**
 * The fan-out goals, read back from bench/fanout.ts's section (its tables carry each figure and verdict),
 * so that the targets table lists every goal of the issue in one place.
 */
function fanoutTargetRows(text: string): string[] {
  if (!text) return [];
  const row = (re: RegExp, label: string, goal: string) => {
    const m = re.exec(text);
    return m
      ? `| ${label} | ${m[1]} | ${goal} | ${m[2]!.replaceAll("*", "") === "met" ? "met" : "**not met**"} | see “WebSocket fan-out” |`
      : `| ${label} | – | ${goal} | not measured | see “WebSocket fan-out” |`;
  };
  const memory = [...text.matchAll(/\| ([\d.]+) KiB \| [\d.]+ KiB \|$/gm)].map((m) => Number(m[1]));
  const worst = memory.length ? Math.max(...memory) : NaN;
  return [
    row(
      /^\| 1,000 \| 1 \|.*?\| ([\d.]+ ms) \| ≤ 20 ms p99: (met|\*\*not met\*\*) \|/m,
      "1,000 watchers, one instance: per-delivery p99",
      "≤ 20 ms",
    ),
    row(
      /^\| 10,000 \| 2 \|.*?\| ([\d.]+ ms) \| ≤ 100 ms p99: (met|\*\*not met\*\*) \|/m,
      "10,000 watchers over two instances: per-delivery p99",
      "≤ 100 ms",
    ),
    row(
      /comes\n([\d.-]+ ms) after A's at the median[\s\S]*?Goal ≤ 0\.5 ms: (met|\*\*not met\*\*)/,
      "Redis hop added to the first delivery (median)",
      "≤ 0.5 ms",
    ),
    `| memory per idle WebSocket (server RSS, worst size) | ${Number.isNaN(worst) ? "–" : `${worst} KiB`} | ≤ 10 KiB | ${worst <= 10 ? "met" : "**not met**"} | see “WebSocket fan-out” |`,
  ];
}

/** The baseline checkout's commit, read when the run ends. */
function baselineCommit(): string {
  if (!BASELINE || !existsSync(BASELINE)) return "";
  const out = Bun.spawnSync(["git", "-C", BASELINE, "log", "-1", "--format=%h %s"]).stdout.toString().trim();
  return out ? ` (commit ${out.split(" ")[0]}: “${out.slice(out.indexOf(" ") + 1)}”)` : "";
}

function writeReport(r: ReportInput) {
  const m = r.machine;
  const target = (label: string, value: number, goal: string, met: boolean, note: string) =>
    `| ${label} | ${fmt(value, 2)} | ${goal} | ${met ? "met" : "**not met**"} | ${note} |`;
  const d = "disk";
  const createRatio = ratio(`${d}:rest-create`, `${d}:c2-insert`);
  const p99p50 = med(`${d}:rest-create`, (s) => s.p99 / s.p50);
  const getRatio = ratio(`${d}:rest-get`, `${d}:c3-select`);
  const confirmRatio = ratio(`${d}:rest-confirm`, `${d}:c4-confirm`);
  const trpcVsRest = ratio(`${d}:trpc-create`, `${d}:rest-create`);
  const sqlRatio = ratio(`${d}:c2b-create-sql`, `${d}:c2-insert`);
  const tm = (id: string, c: string) => ratio(`tmpfs:${id}`, `tmpfs:${c}`);
  const gl = (id: string) => (genLimited(`${d}:${id}`) ? " wrk ≥ 90% CPU: generator-limited." : "");

  const lines: string[] = [];
  const push = (...xs: string[]) => lines.push(...xs);
  push(
    "# Benchmarks",
    "",
    `Generated by \`${COMMAND}\` (bench/run.ts) on ${r.startedAt.toISOString()}, in ${fmt((r.finishedAt.getTime() - r.startedAt.getTime()) / 60000, 1)} min.` +
      (QUICK ? " **Quick run: fewer rounds and shorter runs; not for publishing.**" : ""),
    "Every figure below comes from this one run; rerun the command to regenerate this file from scratch." +
      (BASELINE
        ? ` \`--baseline <dir>\` only adds the “before” rows (the server of another checkout, to measure a change); plain \`npm run bench\` runs everything else.`
        : ""),
    "",
    "## Machine",
    "",
    "| | |",
    "|---|---|",
    `| CPU | ${m.cpuModel}, ${m.cores} cores |`,
    `| RAM | ${fmt(m.ramGiB, 1)} GiB |`,
    `| kernel | ${m.kernel} (root filesystem ${m.rootFs}; tmpfs runs on /dev/shm) |`,
    `| bun | ${m.bun} |`,
    `| node | ${m.node} (not used by the servers) |`,
    `| load generator | ${m.wrk} |`,
    `| load average at the end | ${r.loadAverage ?? "not recorded"} |`,
    "",
    "This machine is shared with other work (load average above), so absolute numbers move from round to round.",
    "Only ratios taken **within one round** are gated, and the median of those ratios is reported.",
    "",
    "## Method",
    "",
    `- Every server is its own process pinned to core ${SERVER_CPU} (\`taskset -c ${SERVER_CPU}\`); wrk runs pinned to core ${LOADGEN_CPU}`,
    `  (\`taskset -c ${LOADGEN_CPU} wrk -t1 -c${CONNECTIONS} -d${SECONDS}s --timeout 10s -s bench/lua/… http://127.0.0.1:<port>…\`), over loopback.`,
    `  wrk's CPU (user + system, from its rusage) and the server's (from /proc) are recorded for every run; a run where`,
    `  wrk used ≥ ${GENERATOR_LIMIT}% of its core is flagged ⚠ (the figure would be the generator's limit, not the server's).`,
    `- ${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} rounds after a ${WARMUP_SECONDS} s warm-up of every variant. Within a round the`,
    "  variants of a scenario run back to back, ceiling next to real, and the order flips every other round.",
    `- The real server is \`bun src/index.ts\` with NODE_ENV=production, API_KEYS, WEBHOOK_SECRET and **LOG_LEVEL=${LOG_LEVEL_MAIN}**`,
    "  (one JSON line per request, as deployed; stdout goes to a file). The same server with LOG_LEVEL=warn measures what",
    "  request logging costs.",
    `- Data: every database starts as a copy of one file seeded with ${fmt(r.seedRows)} historical payments (80% paid, 20% expired), each with`,
    "  its events and a recent idempotency key, written by the app's own migrations plus a bulk insert in one transaction.",
    "- Creates: every request carries `Authorization: Bearer …`, `Content-Type: application/json` and a unique",
    "  `Idempotency-Key` (a counter in bench/lua/template.lua), with a varying amount. tRPC is `POST /trpc/payments.create`",
    "  with the input as the body (non-batched).",
    "- Confirmations: before each run the runner inserts fresh pending payments into the server's database (as the",
    "  API would have created them) and writes one request per payment to a file that wrk replays in order. For the",
    "  real server each request is a Standard Webhooks delivery with its own `webhook-id`, signed just before the run",
    "  (timestamps stay inside the 5-minute tolerance). So every request is a real pending → paid transition; if wrk",
    "  outran the list it would wrap around and the rest would be valid repeats (same id: 200, nothing changes). The",
    "  “real transitions” column counts, from the database, how many requests actually paid a payment.",
    "- Reads: `GET /payments/{id}` for random ids among the seeded rows; the list asks for 20 rows before a random cursor.",
    "- Ceilings (bench/ceilings/) are minimal Bun.serve programs on raw bun:sqlite with the app's own schema, WAL and",
    "  synchronous=NORMAL: (1) a fixed JSON; (2) one prepared INSERT … RETURNING of a payment row; (3) one prepared",
    "  SELECT by primary key; (4) one prepared conditional UPDATE … RETURNING plus `server.publish`. Yardstick (2b)",
    "  runs exactly the SQL of a real create (idempotency lookup + 3 INSERTs in one BEGIN IMMEDIATE transaction) with",
    "  nothing else: it is not a target, it shows what the database work alone leaves of ceiling (2). Yardstick (2c)",
    "  is (2b) group-committed: creates arriving in one event-loop turn share one COMMIT (a SAVEPOINT each) and every",
    "  response waits for it. Yardstick (4b) is the SQL of a real confirmation (read by bank id, webhook-id lookup,",
    "  conditional UPDATE, event and delivery INSERTs in one transaction) with nothing else. Yardstick (3b) is ceiling (3)",
    "  with its SELECT inside a tRPC procedure (one middleware checking the bearer key, a zod input schema), called",
    "  through createCaller as the REST adapter calls every procedure, and nothing else of the app.",
    "",
    "## Targets (disk, median of per-round ratios)",
    "",
    "| target | measured | goal | result | note |",
    "|---|---:|---|---|---|",
    target(
      "REST create / ceiling (2)",
      createRatio,
      "≥ 0.60",
      createRatio >= 0.6,
      `the create's SQL alone (2b) reaches ${fmt(sqlRatio, 2)} of ceiling (2), group-committed (2c) ${fmt(ratio(`${d}:c2c-create-sql-batched`, `${d}:c2-insert`), 2)}; see “Where the time goes”.${gl("rest-create")}`,
    ),
    target(
      "REST create p99/p50",
      p99p50,
      "≤ 3",
      p99p50 <= 3,
      `p50 ${fmt(
        med(`${d}:rest-create`, (s) => s.p50),
        2,
      )} ms, p99 ${fmt(
        med(`${d}:rest-create`, (s) => s.p99),
        2,
      )} ms at ${CONNECTIONS} connections; the tail is WAL checkpoints, see “Where the time goes”.`,
    ),
    target(
      "GET /payments/{id} / ceiling (3)",
      getRatio,
      "≥ 0.50",
      getRatio >= 0.5,
      `tRPC's procedure call alone around ceiling (3)'s SELECT (3b) reaches ${fmt(ratio(`${d}:c3b-select-trpc`, `${d}:c3-select`), 2)}; with LOG_LEVEL=warn ${fmt(ratio(`${d}:rest-get-warn`, `${d}:c3-select`), 2)}; see “Where the time goes”.${gl("c3-select") || gl("rest-get")}`,
    ),
    target(
      "signed confirmation / ceiling (4)",
      confirmRatio,
      "≥ 0.50",
      confirmRatio >= 0.5,
      `the confirmation's SQL alone (4b) reaches ${fmt(ratio(`${d}:c4b-confirm-sql`, `${d}:c4-confirm`), 2)} of ceiling (4).${gl("rest-confirm")}`,
    ),
    `| tRPC create / REST create | ${fmt(trpcVsRest, 3)} | 0.90 – 1.10 | ${trpcVsRest >= 0.9 && trpcVsRest <= 1.1 ? "met" : "**not met**"} | same procedure, different adapter; see “Where the time goes” |`,
    ...fanoutTargetRows(r.fanout),
    "",
    "Same ratios on tmpfs (/dev/shm), where commits cost no disk I/O:",
    "",
    "| ratio | tmpfs |",
    "|---|---:|",
    `| REST create / ceiling (2) | ${fmt(tm("rest-create", "c2-insert"), 2)} |`,
    `| create's SQL only (2b) / ceiling (2) | ${fmt(tm("c2b-create-sql", "c2-insert"), 2)} |`,
    `| create's SQL group-committed (2c) / ceiling (2) | ${fmt(tm("c2c-create-sql-batched", "c2-insert"), 2)} |`,
    `| tRPC create / ceiling (2) | ${fmt(tm("trpc-create", "c2-insert"), 2)} |`,
    `| tRPC create / REST create | ${fmt(tm("trpc-create", "rest-create"), 3)} |`,
    `| GET / ceiling (3) | ${fmt(tm("rest-get", "c3-select"), 2)} |`,
    `| ceiling (3) inside a tRPC procedure (3b) / ceiling (3) | ${fmt(tm("c3b-select-trpc", "c3-select"), 2)} |`,
    `| signed confirmation / ceiling (4) | ${fmt(tm("rest-confirm", "c4-confirm"), 2)} |`,
    `| confirmation's SQL only (4b) / ceiling (4) | ${fmt(tm("c4b-confirm-sql", "c4-confirm"), 2)} |`,
    "",
  );
  for (const medium of r.media) {
    push(
      `## Throughput and latency — ${medium.name === "disk" ? `disk (${m.rootFs} root filesystem, /tmp)` : "tmpfs (/dev/shm)"}`,
      "",
      variantTable(medium.variants, medium.ceilingOf),
      "",
      "Requests per second in each round (the rounds the ratios come from):",
      "",
      roundsTable(medium.variants.map((v) => [v.id, v.label])),
      "",
    );
  }
  const logCost = (a: string, b: string) => ratio(`${d}:${a}`, `${d}:${b}`);
  push(
    "## What request logging costs",
    "",
    "Same build, LOG_LEVEL=info (one JSON line per request) against LOG_LEVEL=warn, disk, median of per-round ratios:",
    "",
    "| scenario | info / warn throughput |",
    "|---|---:|",
    `| REST create | ${fmt(logCost("rest-create", "rest-create-warn"), 2)} |`,
    `| REST GET | ${fmt(logCost("rest-get", "rest-get-warn"), 2)} |`,
    "",
  );
  if (BASELINE) {
    const ba = (id: string) => ratio(`${d}:${id}`, `${d}:base-${id}`);
    push(
      "## Against the baseline checkout (same run)",
      "",
      `The server from \`${BASELINE}\`${r.baselineCommit ?? ""} (the checkout given with --baseline; what it lacks is said in the changes below) ran in the same rounds as the current one:`,
      "",
      "| scenario | before req/s | after req/s | after / before (median of rounds) |",
      "|---|---:|---:|---:|",
      ...["rest-create", "trpc-create", "rest-get", "rest-confirm"].map(
        (id) =>
          `| ${id} | ${fmt(med(`${d}:base-${id}`, (s) => s.rps))} | ${fmt(med(`${d}:${id}`, (s) => s.rps))} | ${fmt(ba(id), 2)} |`,
      ),
      "",
      "| ratio (median of per-round ratios) | before | after |",
      "|---|---:|---:|",
      `| REST create p99/p50 | ${fmt(
        med(`${d}:base-rest-create`, (s) => s.p99 / s.p50),
        2,
      )} | ${fmt(
        med(`${d}:rest-create`, (s) => s.p99 / s.p50),
        2,
      )} |`,
      `| tRPC create / REST create | ${fmt(ratio(`${d}:base-trpc-create`, `${d}:base-rest-create`), 3)} | ${fmt(trpcVsRest, 3)} |`,
      "",
    );
  }
  const changes = join(ROOT, "bench/perf-changes.md");
  if (existsSync(changes)) push(readFileSync(changes, "utf8").trim(), "");

  const sustained = samples.get("sustained")?.[0];
  const mib = (b: number | undefined) => `${fmt((b ?? 0) / 2 ** 20, 1)} MiB`;
  push(
    "## The WAL stays bounded",
    "",
    `The real server's \`-wal\` file was sampled every 100 ms during every disk round and, after a TRUNCATE checkpoint,`,
    `during ${SUSTAIN_SECONDS} s of sustained REST creates at ${CONNECTIONS} connections (${sustained ? `${fmt(sustained.rps)} req/s, ${fmt(sustained.requests)} payments` : "not run"}).`,
    "The runner's own inserts of pending payments (for the confirmation runs) go in transactions of 500 rows.",
    "",
    "| | size |",
    "|---|---:|",
    `| largest -wal during the disk rounds | ${mib(walWatch.get("disk:real"))} |`,
    `| largest -wal during the sustained run | ${mib(walWatch.get("sustained"))} |`,
    `| -wal at the end of the sustained run | ${mib(walWatch.get("sustained-end"))} |`,
    `| database file at the end | ${mib(walWatch.get("real-db-size"))} |`,
    "",
    "SQLite checkpoints every 1000 pages (about 4 MiB) and reuses the file from the start; the file only grows past",
    "that if a reader keeps a snapshot open. Every statement of the repository runs to completion (`.all()`/`.run()`).",
    "",
  );

  const gm = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
  push(
    "## Cost as data grows",
    "",
    `The real server (LOG_LEVEL=${LOG_LEVEL_MAIN}, disk) on a table seeded with N payments (plus their events and idempotency`,
    `keys), ${GROWTH_CONNECTIONS} connection (unloaded latency), ${GROWTH_SECONDS} s per run, median of ${GROWTH_REPEATS} runs:`,
    "",
    "| payments in the table | seed time | create p50 / p99 ms | get p50 / p99 ms | list (cursor) p50 / p99 ms |",
    "|---:|---:|---:|---:|---:|",
    ...r.growth.map(
      (g) =>
        `| ${fmt(g.size)} | ${fmt(g.seedSeconds, 1)} s | ${fmt(
          gm(g.create, (s) => s.p50),
          3,
        )} / ${fmt(
          gm(g.create, (s) => s.p99),
          3,
        )} | ` +
        `${fmt(
          gm(g.get, (s) => s.p50),
          3,
        )} / ${fmt(
          gm(g.get, (s) => s.p99),
          3,
        )} | ${fmt(
          gm(g.list, (s) => s.p50),
          3,
        )} / ${fmt(
          gm(g.list, (s) => s.p99),
          3,
        )} |`,
    ),
    "",
  );
  if (r.growth.length >= 2) {
    const first = r.growth[0]!;
    const last = r.growth[r.growth.length - 1]!;
    const grow = (k: "create" | "get" | "list") => gm(last[k], (s) => s.p50) / gm(first[k], (s) => s.p50);
    push(
      `From ${fmt(first.size)} to ${fmt(last.size)} payments (×${fmt(last.size / first.size)}), the p50 latency changes by a factor of`,
      `${fmt(grow("create"), 2)} for create, ${fmt(grow("get"), 2)} for get and ${fmt(grow("list"), 2)} for the cursor list: every query walks a B-tree by key`,
      "(primary key, the bank id's unique index, the idempotency key's primary key), so growth is at most logarithmic,",
      "plus page-cache misses once the indexes outgrow SQLite's 2 MiB default cache.",
      "",
    );
  }
  const notes = join(ROOT, "bench/notes.md");
  if (existsSync(notes)) push(readFileSync(notes, "utf8").trim(), "");
  if (r.fanout) push("## WebSocket fan-out", "", "From bench/fanout.ts, run by the same command:", "", r.fanout, "");
  mkdirSync(join(OUT, ".."), { recursive: true });
  writeFileSync(OUT, lines.join("\n"));
}

const RENDER = option("--render");
if (RENDER) {
  const saved = JSON.parse(readFileSync(RENDER, "utf8")) as {
    state: ReportInput;
    samples: Array<[string, Sample[]]>;
    walWatch: Array<[string, number]>;
    command: string;
  };
  for (const [k, v] of saved.samples) samples.set(k, v);
  for (const [k, v] of saved.walWatch) walWatch.set(k, v);
  COMMAND = saved.command;
  // The report's baseline sections follow the command that measured, not this one.
  BASELINE ??= /--baseline (\S+)/.exec(saved.command)?.[1];
  saved.state.startedAt = new Date(saved.state.startedAt);
  saved.state.finishedAt = new Date(saved.state.finishedAt);
  writeReport(saved.state);
  console.log(`rendered ${OUT} from ${RENDER}`);
} else {
  try {
    await main();
  } finally {
    await cleanup();
  }
}
