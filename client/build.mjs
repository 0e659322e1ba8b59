// Builds dist/ for the package: index.js (ESM; imports only @trpc/client and eventsource) and .d.ts files
// with the server router's type, so a project using the package needs neither Bun nor the server's sources.
// tsc compiles index.ts with the server files its types come from; only what index.d.ts reaches is kept.
// webhooks.js, the `./webhooks` entry (merchant back ends: node:crypto), runs code of src/webhooks/ too:
// the JavaScript it reaches is kept under dist/lib/, in the same layout.
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
/** What the shipped JavaScript may import: the runtime dependencies, and node:crypto (the webhooks entry only). */
const ALLOWED_JS = new Set(["@trpc/client", "eventsource", "node:crypto"]);
/** The package's entry points: client/<name>.ts becomes dist/<name>.js and dist/<name>.d.ts. */
const ENTRIES = ["index", "webhooks"];

const built = () => ENTRIES.every((e) => existsSync(join(dist, `${e}.js`)) && existsSync(join(dist, `${e}.d.ts`)));
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
  ...[...ENTRIES.map((e) => `${e}.ts`), "build.mjs", "tsconfig.build.json", "package.json"].map((f) => join(here, f)),
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
for (const entry of ENTRIES) cpSync(join(here, `${entry}.ts`), join(stage, `client/${entry}.ts`));
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
for (const entry of ENTRIES) ship(join(out, `client/${entry}.d.ts`));
if (problems.length)
  throw new Error(`build: the declarations reach packages the client does not ship:\n${problems.join("\n")}`);

// The JavaScript an entry runs: its file and the relative imports it reaches (tsc wrote them as `./x.js`).
const shipped = new Set();
function shipJs(jsFile) {
  if (shipped.has(jsFile)) return;
  shipped.add(jsFile);
  const text = readFileSync(jsFile, "utf8");
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm),
    ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1]);
  for (const specifier of specifiers) {
    if (specifier.startsWith(".")) shipJs(resolve(dirname(jsFile), specifier));
    else if (!ALLOWED_JS.has(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier))
      problems.push(`${relative(out, jsFile)} imports ${specifier}`);
  }
  const target = join(dist, "lib", relative(out, jsFile));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
}
// index.js imports no file of ours (only types come from the server): it is shipped as it is, on its own.
const indexJs = readFileSync(join(out, "client/index.js"), "utf8");
if (/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']\./m.test(indexJs) || /["']node:/.test(indexJs))
  problems.push("client/index.js imports a file or a node: module (browsers bundle it): use a separate entry");
for (const entry of ENTRIES.filter((e) => e !== "index")) shipJs(join(out, `client/${entry}.js`));
if (problems.length)
  throw new Error(`build: the JavaScript reaches what the client does not ship:\n${problems.join("\n")}`);

writeFileSync(join(dist, "index.js"), indexJs);
for (const entry of ENTRIES) {
  if (entry !== "index") writeFileSync(join(dist, `${entry}.js`), `export * from "./lib/client/${entry}.js";\n`);
  writeFileSync(join(dist, `${entry}.d.ts`), `export * from "./types/client/${entry}.js";\n`);
}
rmSync(out, { recursive: true, force: true });
writeFileSync(stamp, digest);
console.error(`built ${ENTRIES.map((e) => `dist/${e}.js`).join(", ")} and ${seen.size} declaration files`);
