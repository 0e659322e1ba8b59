/**
 * `npm run bench`: the HTTP benchmark suite of issue 5. Starts every server it needs (ceilings and the real
 * app, pinned to core 0), drives them with wrk pinned to core 1, alternates ceiling and real variants over
 * several rounds, and writes docs/benchmarks.md from scratch; then runs the groups with benchmarks of their own
 * (bench/postgres.ts, bench/webhooks.ts: issue 12's PostgreSQL group and issue 13's merchant webhooks), each
 * writing its section of the same file. Flags:
 *   --quick            short run for development (2 rounds, 2 s, smaller tables; not for publishing)
 *   --baseline <dir>   also run the real server from another checkout (before/after of perf changes)
 *   --out <file>       where to write the report (default docs/benchmarks.md)
 *   --only <groups>    development A/B: only these groups (create,get,confirm,qr), disk only, no growth,
 *                      sustained or fan-out runs, and no report (the per-round lines and medians are printed)
 *   --render <file>    measure nothing: write the report again from a run's raw results (the JSON file a
 *                      measuring run names at its end)
 *
 * This file is the order of a run; the parts are in bench/settings.ts (flags, sizes, keys), bench/servers.ts
 * (starting and stopping the ceilings and real servers), bench/scenarios.ts (the groups and the other runs),
 * bench/measure.ts (wrk runs, rounds, samples, ratios) and bench/report.ts (writing the report).
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeMachine } from "./lib/machine.ts";
import { ROOT } from "./lib/proc.ts";
import { merchantOf, seedDatabase } from "./lib/seed.ts";
import { fmt, median } from "./lib/stats.ts";
import { ratio, rounds, samples, type Variant, watchWal } from "./measure.ts";
import { baselineCommit, type ReportInput, renderSaved, saveRun, writeReport } from "./report.ts";
import { fanoutSection, GROUP_NAMES, growthRuns, mediumScenarios, sustainedWrites } from "./scenarios.ts";
import { cleanup, startMedium, stopAll, workDir } from "./servers.ts";
import { API_KEY, BASELINE, COMMAND, log, ONLY, OUT, QUICK, RENDER, SEED_ROWS, startedAt } from "./settings.ts";

async function main() {
  const machine = describeMachine();
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores; bun ${machine.bun}; ${machine.wrk}`);
  const merchant = merchantOf(API_KEY);

  // One seeded file, copied for every server so each starts from the same data.
  const seedDir = workDir(tmpdir(), "pix-bench-seed-");
  const seedFile = join(seedDir, "seed.sqlite");
  const t = performance.now();
  seedDatabase(seedFile, SEED_ROWS, merchant);
  log(`seeded ${SEED_ROWS} payments in ${fmt((performance.now() - t) / 1000, 1)} s`);

  const media: Array<{ name: "disk" | "tmpfs"; variants: Variant[]; ceilingOf: Record<string, string> }> = [];

  for (const medium of ONLY ? (["disk"] as const) : (["disk", "tmpfs"] as const)) {
    const dir = workDir(medium === "disk" ? tmpdir() : "/dev/shm", `pix-bench-${medium}-`);
    const full = medium === "disk";
    log(`${medium}: starting servers in ${dir}`);
    const { db, servers } = await startMedium(dir, seedFile, full);
    const { groups: byName, ceilingOf } = mediumScenarios(medium, dir, db, servers, full);
    const groups = GROUP_NAMES.filter((n) => !ONLY || ONLY.includes(n)).map((n) => byName[n]);

    const stopWal = watchWal(`${medium}:real`, db.real);
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
    media.push({ name: medium, variants: groups.flat(), ceilingOf });

    if (medium === "disk") await sustainedWrites(byName.create.find((x) => x.id === "disk:rest-create")!, db.real);
    await stopAll();
  }

  const growth = await growthRuns(merchant);
  const fanout = await fanoutSection();

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
    baselineCommit: baselineCommit(BASELINE),
  };
  // The raw figures, so the report can be re-rendered (`--render <file>`) without measuring again.
  const raw = join(tmpdir(), "pix-bench-last-run.json");
  saveRun(raw, state, COMMAND);
  log(`raw results in ${raw}`);
  writeReport(state, { command: COMMAND, baseline: BASELINE });
  log(`wrote ${OUT} in ${fmt((finishedAt.getTime() - startedAt.getTime()) / 60000, 1)} min`);

  // The groups with benchmarks of their own, each writing its section of the same report.
  for (const group of ["postgres.ts", "webhooks.ts"]) {
    log(`running bench/${group}`);
    const args = [join(ROOT, "bench", group), "--out", OUT, ...(QUICK ? ["--quick"] : [])];
    const proc = Bun.spawn([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
    if ((await proc.exited) !== 0) throw new Error(`bench/${group} failed`);
  }
}

if (RENDER) {
  renderSaved(RENDER, BASELINE);
  console.log(`rendered ${OUT} from ${RENDER}`);
} else {
  try {
    await main();
  } finally {
    await cleanup();
  }
}
