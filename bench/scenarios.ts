/**
 * What is asked of the servers: the groups of variants a medium runs in rounds (create, get with the list,
 * confirm, qr), each real variant with the ceiling its ratio is taken to; the sustained-write WAL run; the
 * cost as data grows; and bench/fanout.ts, run as its own program.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeCursor } from "../src/payments/service.ts";
import { BUN, ROOT } from "./lib/proc.ts";
import { seedDatabase, truncateWal, writeGetRequests, writeQrRequests } from "./lib/seed.ts";
import { fmt } from "./lib/stats.ts";
import { measure, type Sample, samples, type Variant, walWatch, watchWal } from "./measure.ts";
import { type MediumDatabases, type MediumServers, realServer, stopAll, workDir } from "./servers.ts";
import {
  AUTH,
  CONNECTIONS,
  GROWTH_CONNECTIONS,
  GROWTH_REPEATS,
  GROWTH_SECONDS,
  GROWTH_SIZES,
  LOG_LEVEL_MAIN,
  log,
  QUICK,
  SEED_ROWS,
  SUSTAIN_SECONDS,
} from "./settings.ts";

/** The groups that `--only` can name, in the order they run. */
export const GROUP_NAMES = ["create", "get", "confirm", "qr"] as const;
export type GroupName = (typeof GROUP_NAMES)[number];

export interface MediumScenarios {
  groups: Record<GroupName, Variant[]>;
  /** For each variant with a ratio, the variant it is divided by (within each round). */
  ceilingOf: Record<string, string>;
}

/** `count` list requests (20 rows before a random cursor among `rows` seeded payments), one file for wrk. */
function writeListRequests(file: string, count: number, rows: number) {
  const records: string[] = [];
  for (let i = 0; i < count; i++) {
    const before = 21 + Math.floor(Math.random() * (rows - 21));
    records.push(
      `GET /payments?limit=20&cursor=${encodeCursor(before)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\n\r\n`,
    );
  }
  writeFileSync(file, records.join("\0"));
}

/**
 * The variants of one medium, on the servers startMedium() started in `dir`; on disk (`full`) with the
 * fixed-JSON ceiling, the LOG_LEVEL=warn server, the cursor list and the baseline checkout's server.
 */
export function mediumScenarios(
  m: "disk" | "tmpfs",
  dir: string,
  db: MediumDatabases,
  servers: MediumServers,
  full: boolean,
): MediumScenarios {
  const { c1, c2, c2b, c2c, c3, c3b, c4, c4b, real, warn, base } = servers;
  const getFile = (name: string, auth: boolean) => {
    const f = join(dir, `${name}.requests`);
    writeGetRequests(f, 50_000, SEED_ROWS, (id) => `/payments/${id}`, auth ? AUTH : undefined);
    return f;
  };
  const listFile = join(dir, "list.requests");
  writeListRequests(listFile, 20_000, SEED_ROWS);
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
  return { groups: { create, get, confirm, qr }, ceilingOf };
}

/** Sustained REST creates on the disk medium's real server: does the -wal file stay bounded? */
export async function sustainedWrites(create: Variant, database: string) {
  log(`sustained REST creates for ${SUSTAIN_SECONDS} s (WAL watch)`);
  truncateWal(database);
  const stop = watchWal("sustained", database);
  const s = await measure(create, SUSTAIN_SECONDS, CONNECTIONS, 0);
  stop();
  samples.set("sustained", [s]);
  let walEnd = 0;
  try {
    walEnd = statSync(`${database}-wal`).size;
  } catch {}
  walWatch.set("sustained-end", walEnd);
  walWatch.set("real-db-size", statSync(database).size);
}

export interface GrowthEntry {
  size: number;
  seedSeconds: number;
  create: Sample[];
  get: Sample[];
  list: Sample[];
}

/** Cost as data grows: unloaded latency (1 connection) of create, get and list at each of GROWTH_SIZES rows. */
export async function growthRuns(merchant: string): Promise<GrowthEntry[]> {
  const growth: GrowthEntry[] = [];
  for (const size of GROWTH_SIZES) {
    const dir = workDir(tmpdir(), "pix-bench-growth-");
    const file = join(dir, "payments.sqlite");
    const t = performance.now();
    seedDatabase(file, size, merchant);
    const seedSeconds = (performance.now() - t) / 1000;
    log(`growth: seeded ${size} payments in ${fmt(seedSeconds, 1)} s`);
    const server = await realServer("growth", dir, file, LOG_LEVEL_MAIN);
    const getReq = join(dir, "get.requests");
    writeGetRequests(getReq, 50_000, size, (id) => `/payments/${id}`, AUTH);
    const listReq = join(dir, "list.requests");
    writeListRequests(listReq, 20_000, size);
    const entry: GrowthEntry = { size, seedSeconds, create: [], get: [], list: [] };
    const variants: Array<["create" | "get" | "list", Variant]> = [
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
  return growth;
}

/** The WebSocket fan-out benchmark (bench/fanout.ts) is its own program; runs it if it is there. */
export async function fanoutSection(): Promise<string> {
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
  return fanout;
}
