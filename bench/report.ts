/**
 * Reporting: docs/benchmarks.md (or --out) written from scratch from one run's samples (keeping the sections
 * other benchmarks wrote between `<!-- name:start -->` and `<!-- name:end -->` markers), and the same report
 * re-rendered from a saved run's raw results (`--render <file>`, the JSON a measuring run leaves in the
 * temporary folder) without measuring again.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { describeMachine } from "./lib/machine.ts";
import { LOADGEN_CPU, ROOT, SERVER_CPU } from "./lib/proc.ts";
import { fmt, median } from "./lib/stats.ts";
import { cpuRatio, genLimited, med, ratio, type Sample, samples, type Variant, walWatch } from "./measure.ts";
import type { GrowthEntry } from "./scenarios.ts";
import {
  CONNECTIONS,
  GENERATOR_LIMIT,
  GROWTH_CONNECTIONS,
  GROWTH_REPEATS,
  GROWTH_SECONDS,
  LOG_LEVEL_MAIN,
  OUT,
  QUICK,
  ROUNDS,
  SECONDS,
  SUSTAIN_SECONDS,
  WARMUP_SECONDS,
} from "./settings.ts";

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

// ---------------------------------------------------------------------------------------------- report
/** What a run hands the report besides the samples; saved with them as the raw results. */
export interface ReportInput {
  machine: ReturnType<typeof describeMachine>;
  media: Array<{ name: string; variants: Array<Pick<Variant, "id" | "label">>; ceilingOf: Record<string, string> }>;
  growth: GrowthEntry[];
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
export function baselineCommit(baseline: string | undefined): string {
  if (!baseline || !existsSync(baseline)) return "";
  const out = Bun.spawnSync(["git", "-C", baseline, "log", "-1", "--format=%h %s"]).stdout.toString().trim();
  return out ? ` (commit ${out.split(" ")[0]}: “${out.slice(out.indexOf(" ") + 1)}”)` : "";
}

/** How the run was asked for: the command line and the --baseline checkout (of the measuring run for --render). */
export interface RunCommand {
  command: string;
  baseline: string | undefined;
}

/** Writes the whole report to OUT from `r` and the samples. */
export function writeReport(r: ReportInput, { command: COMMAND, baseline: BASELINE }: RunCommand) {
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
  // Sections other benchmarks write between their own markers (bench/postgres.ts, bench/webhooks.ts) and records
  // of one-off comparisons are not this run's to redo: they are kept, after the rest, in their order.
  const previous = existsSync(OUT) ? readFileSync(OUT, "utf8") : "";
  for (const kept of previous.matchAll(/<!-- ([a-z0-9-]+):start -->[\s\S]*?<!-- \1:end -->/g)) push(kept[0], "");
  mkdirSync(join(OUT, ".."), { recursive: true });
  writeFileSync(OUT, lines.join("\n"));
}

/** The raw results a measuring run saves, so that `--render <file>` can write the report again. */
interface SavedRun {
  state: ReportInput;
  samples: Array<[string, Sample[]]>;
  walWatch: Array<[string, number]>;
  command: string;
}

export function saveRun(file: string, state: ReportInput, command: string) {
  const saved: SavedRun = { state, samples: [...samples], walWatch: [...walWatch], command };
  writeFileSync(file, JSON.stringify(saved));
}

/** `--render <file>`: the report of a saved run. `baseline` (this command's --baseline) wins over the saved one. */
export function renderSaved(file: string, baseline: string | undefined) {
  const saved = JSON.parse(readFileSync(file, "utf8")) as SavedRun;
  for (const [k, v] of saved.samples) samples.set(k, v);
  for (const [k, v] of saved.walWatch) walWatch.set(k, v);
  saved.state.startedAt = new Date(saved.state.startedAt);
  saved.state.finishedAt = new Date(saved.state.finishedAt);
  writeReport(saved.state, {
    command: saved.command,
    // The report's baseline sections follow the command that measured, not this one.
    baseline: baseline ?? /--baseline (\S+)/.exec(saved.command)?.[1],
  });
}
