// Builds dist/ for the package: index.js (ESM; imports only @trpc/client and eventsource) and .d.ts files
// with the server router's type, so a project using the package needs neither Bun nor the server's sources.
// tsc compiles index.ts with the server files its types come from; only what index.d.ts reaches is kept.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const out = join(dist, ".tsc");
/** Packages the shipped declarations may import: the package's own dependencies. */
const ALLOWED = new Set(["@trpc/client", "@trpc/server", "eventsource"]);

const built = () => existsSync(join(dist, "index.js")) && existsSync(join(dist, "index.d.ts"));
if (!existsSync(join(here, "../src/trpc/router.ts"))) {
  // An installed tarball keeps its scripts but not the server's sources: its dist/ is the build.
  if (built()) process.exit(0);
  throw new Error("build: ../src/trpc/router.ts is missing: the client is built inside the pix-payment-api repository");
}

// npm pack runs both prepare and prepack: the second build of the same inputs is skipped.
const hash = createHash("sha256");
const inputs = (dir) =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
for (const file of [
  ...inputs(join(here, "../src")),
  ...["index.ts", "build.mjs", "tsconfig.build.json", "package.json"].map((f) => join(here, f)),
]) {
  hash.update(relative(here, file)).update("\0").update(readFileSync(file)).update("\0");
}
const digest = hash.digest("hex");
const stamp = join(dist, ".build-hash");
if (built() && existsSync(stamp) && readFileSync(stamp, "utf8") === digest) {
  console.error("dist/ is up to date");
  process.exit(0);
}
rmSync(dist, { recursive: true, force: true });
// tsc compiles a copy staged inside client/, so the server files' own imports (@trpc/server, zod) resolve
// to this package's node_modules: a clone that installed only the client's dependencies builds too.
const stage = join(here, ".stage");
rmSync(stage, { recursive: true, force: true });
cpSync(join(here, "../src"), join(stage, "src"), { recursive: true, filter: (f) => !/\.(js|css|svg)$/.test(f) });
cpSync(join(here, "index.ts"), join(stage, "client/index.ts"));
const tsc = join(here, "node_modules/.bin/tsc");
try {
  execFileSync(existsSync(tsc) ? tsc : "tsc", ["-p", join(here, "tsconfig.build.json")], { stdio: "inherit" });
} finally {
  rmSync(stage, { recursive: true, force: true });
}

// Declarations keep the sources' `./x.ts` specifiers; a consumer resolves `./x.js` to `./x.d.ts`.
const rewrite = (text) =>
  text.replace(
    /((?:from|import)\s*\(?\s*["'])(\.\.?\/[^"']+)\.ts(["'])/g,
    (_m, head, path, quote) => `${head}${path}.js${quote}`,
  );

const seen = new Set();
const problems = [];
function ship(dtsFile) {
  if (seen.has(dtsFile)) return;
  seen.add(dtsFile);
  const text = readFileSync(dtsFile, "utf8");
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm),
    ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1]);
  for (const specifier of specifiers) {
    if (specifier.startsWith(".")) ship(resolve(dirname(dtsFile), specifier.replace(/\.ts$/, ".d.ts")));
    else {
      const pkg = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0];
      if (!ALLOWED.has(pkg)) problems.push(`${relative(out, dtsFile)} imports ${specifier}`);
    }
  }
  const target = join(dist, "types", relative(out, dtsFile));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, rewrite(text));
}
ship(join(out, "client/index.d.ts"));
if (problems.length)
  throw new Error(`build: the declarations reach packages the client does not ship:\n${problems.join("\n")}`);

writeFileSync(join(dist, "index.js"), readFileSync(join(out, "client/index.js"), "utf8"));
writeFileSync(join(dist, "index.d.ts"), 'export * from "./types/client/index.js";\n');
rmSync(out, { recursive: true, force: true });
writeFileSync(stamp, digest);
console.error(`built dist/index.js and ${seen.size} declaration files`);
