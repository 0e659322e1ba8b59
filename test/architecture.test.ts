/**
 * The shape of src/, checked on every run: composition root → surfaces (HTTP, tRPC, WebSockets, pages)
 * → the domain service → its ports ← the adapters that implement them. No import runs back up, SQL and
 * the database drivers stay in src/db/, Redis in src/bus/.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "./harness.ts";

type Layer = "root" | "surface" | "domain" | "protocol" | "adapter" | "leaf";

/** Which layer a file of src/ belongs to. */
function layerOf(file: string): Layer {
  if (file === "src/index.ts" || file === "src/app.ts") return "root";
  if (/^src\/(http|trpc|realtime|pages)\//.test(file) || file === "src/metrics.ts" || file === "src/log.ts")
    return "surface";
  if (file.startsWith("src/payments/")) return "domain";
  if (/^src\/(pix|webhooks)\//.test(file)) return "protocol";
  if (/^src\/(db|bus|psp|outbound)\//.test(file)) return "adapter";
  return "leaf"; // config, clock, messages, limits: import nothing of ours but other leaves
}

/** What each layer may import from src/. */
const allowed: Record<Layer, Layer[]> = {
  root: ["root", "surface", "domain", "protocol", "adapter", "leaf"],
  surface: ["surface", "domain", "protocol", "leaf"],
  domain: ["domain", "protocol", "leaf"],
  protocol: ["protocol"],
  // An adapter may speak a protocol: the API Pix client (src/psp/) reads and writes the BCB shapes of src/pix/.
  adapter: ["adapter", "domain", "protocol", "leaf"],
  leaf: ["leaf"],
};

/** Packages only some folders may use. */
const packageHomes: Array<{ pattern: RegExp; home: RegExp; why: string }> = [
  { pattern: /^(bun:sqlite|drizzle-orm)/, home: /^src\/db\//, why: "SQL and the database drivers live in src/db/" },
  { pattern: /^(redis|postgres)$/, home: /^src\/(bus|db)\//, why: "network clients live in their adapters" },
];

export interface ImportEdge {
  from: string;
  to: string;
}

/** Every `import … from "x"` / `export … from "x"` of the files, resolved to src/ paths or package names. */
function importsOf(files: string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gm)) {
      const spec = m[1]!;
      const to = spec.startsWith(".") ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : spec;
      edges.push({ from: file, to });
    }
  }
  return edges;
}

/**
 * Adapters of one port may share files (src/bus/listeners.ts, src/db/effective-status.ts), and src/db/open.ts
 * picks one, but one database's adapter never uses another's (src/db/sqlite/ and src/db/postgres/).
 */
function sameAdapter(from: string, to: string): boolean {
  const [, familyA, dirA] = from.split("/");
  const [, familyB, dirB] = to.split("/");
  if (familyA !== familyB) return false;
  const inSubfolder = (parts: string[]) => parts.length > 3;
  if (!inSubfolder(from.split("/")) || !inSubfolder(to.split("/"))) return true;
  return dirA === dirB;
}

/** The rule each edge breaks, if any. */
export function violations(edges: ImportEdge[]): string[] {
  const found: string[] = [];
  for (const { from, to } of edges) {
    if (to.startsWith("src/")) {
      const a = layerOf(from);
      const b = layerOf(to);
      if (!allowed[a].includes(b)) found.push(`${from} (${a}) imports ${to} (${b})`);
      if (to === "src/app.ts" && from !== "src/index.ts") found.push(`${from} imports the composition root`);
      if (a === "adapter" && b === "adapter" && !sameAdapter(from, to))
        found.push(`${from} imports another adapter's ${to}`);
    } else {
      for (const rule of packageHomes) {
        if (rule.pattern.test(to) && !rule.home.test(from)) found.push(`${from} imports ${to}: ${rule.why}`);
      }
    }
  }
  return found;
}

function sourceFiles(dir = "src"): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

describe("architecture", () => {
  const edges = importsOf(sourceFiles());

  test("every import of src/ points down: root → surfaces → domain → ports ← adapters", () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(violations(edges)).toEqual([]);
  });

  test("the checker catches an import running back up, a driver outside src/db/, and one adapter using another", () => {
    expect(
      violations([
        { from: "src/payments/service.ts", to: "src/http/server.ts" },
        { from: "src/payments/service.ts", to: "src/db/sqlite/payment-repository.ts" },
        { from: "src/http/rest.ts", to: "bun:sqlite" },
        { from: "src/bus/redis.ts", to: "src/db/sqlite/client.ts" },
        { from: "src/db/postgres/storage.ts", to: "src/db/sqlite/client.ts" },
        { from: "src/pix/brcode.ts", to: "src/payments/money.ts" },
        { from: "src/trpc/router.ts", to: "src/app.ts" },
        { from: "src/outbound/sender.ts", to: "src/db/sqlite/client.ts" },
      ]),
    ).toHaveLength(9);
  });

  test("nothing outside src/db/ knows the database is SQLite", () => {
    const outside = sourceFiles().filter((f) => !f.startsWith("src/db/"));
    const mentions = outside.filter((f) =>
      /\$client|sqliteTable|_def\._config|streamSym/.test(readFileSync(join(ROOT, f), "utf8")),
    );
    expect(mentions).toEqual([]);
  });
});
