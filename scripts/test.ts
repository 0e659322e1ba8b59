/**
 * `npm test`: the whole suite on SQLite, then every storage-backed test file again on PostgreSQL
 * (TEST_DATABASE=postgres; test/backend.ts starts the run's own cluster). SQLite-only files are named
 * *.sqlite.test.ts, PostgreSQL-only ones *.postgres.test.ts (they start clusters of their own and run in the
 * first pass). Arguments are passed to `bun test` (e.g. a file name); `--sqlite-only` / `--postgres-only`
 * run one pass.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const only = args.find((a) => a === "--sqlite-only" || a === "--postgres-only");
const filters = args.filter((a) => a !== only);

/** Test files that open storage through the harness, so that their outcome depends on the backend. */
function storageBacked(): string[] {
  return readdirSync(join(ROOT, "test"))
    .filter((f) => f.endsWith(".test.ts") && !/\.(sqlite|postgres)\.test\.ts$/.test(f))
    .filter((f) =>
      /\b(startTestApp|startAppWithPsp|spawnServer|startTwoInstances|openTestStorage)\(/.test(
        readFileSync(join(ROOT, "test", f), "utf8"),
      ),
    )
    .map((f) => `test/${f}`);
}

function run(label: string, files: string[], env: Record<string, string>): number {
  console.log(`\n== ${label} ==\n`);
  const proc = Bun.spawnSync([process.execPath, "test", "--timeout", "30000", ...files], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "inherit",
    stderr: "inherit",
  });
  return proc.exitCode ?? 1;
}

let failed = 0;
if (only !== "--postgres-only") failed += run("SQLite (every test file)", filters, { TEST_DATABASE: "sqlite" });
if (only !== "--sqlite-only") {
  const files = storageBacked().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length > 0) failed += run("PostgreSQL (storage-backed test files)", files, { TEST_DATABASE: "postgres" });
}
process.exit(failed === 0 ? 0 : 1);
