/**
 * A production install as an operator makes it: a clean copy of the repository (what git tracks, no
 * node_modules), `npm ci --omit=dev`, then `NODE_ENV=production npm start` with Bun coming from the runtime
 * dependencies, and the starts production must refuse. Also: every package src/ imports is a runtime one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { DEMO_PIX_KEY } from "../src/config.ts";
import { merchantHeaders, ROOT, TEST_API_KEY, TEST_WEBHOOK_SECRET, tempDir } from "./harness.ts";

const INSTALL_MS = 120_000;

/** A tool the test needs, or a failure that says how to get it (never a skip). */
function need(tool: string): string {
  const path = Bun.which(tool);
  if (!path) throw new Error(`${tool} is not on PATH; the production-install test needs Node.js and npm`);
  return path;
}

const tmp = tempDir("payments-prod-");
const copy = join(tmp.dir, "pix-payment-api");
let pathEnv = "";
let npmPath = "";

beforeAll(async () => {
  const npm = need("npm");
  npmPath = npm;
  need("git");
  // PATH with node and npm but no bun: the bun that runs must be the one npm installed as a dependency.
  pathEnv = [...new Set([dirname(npm), dirname(need("node")), "/usr/bin", "/bin"])].join(":");
  expect(Bun.which("bun", { PATH: pathEnv })).toBeNull();

  const files = Bun.spawnSync(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT });
  if (files.exitCode !== 0) throw new Error(`git ls-files failed: ${files.stderr.toString()}`);
  const list = files.stdout
    .toString()
    .split("\0")
    .filter((f) => f && existsSync(join(ROOT, f)) && !f.startsWith("test/artifacts/"));
  mkdirSync(copy, { recursive: true });
  const tar = Bun.spawn(["tar", "-cf", "-", "--null", "-T", "-"], { cwd: ROOT, stdin: "pipe", stdout: "pipe" });
  tar.stdin.write(list.join("\0"));
  tar.stdin.end();
  const untar = Bun.spawn(["tar", "-xf", "-"], { cwd: copy, stdin: tar.stdout });
  expect(await untar.exited).toBe(0);
  expect(existsSync(join(copy, "node_modules"))).toBe(false);

  const ci = Bun.spawn([npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: copy,
    env: { PATH: pathEnv, HOME: process.env.HOME ?? tmp.dir },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([
    ci.exited,
    new Response(ci.stdout).text(),
    new Response(ci.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`npm ci --omit=dev failed (${code}):\n${out}\n${err}`);
}, INSTALL_MS);
afterAll(() => tmp.cleanup());

const PROD_ENV = {
  NODE_ENV: "production",
  API_KEYS: TEST_API_KEY,
  WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
  PUBLIC_URL: "https://pay.loja.example",
  PIX_KEY: "financeiro@loja.example",
  LOG_LEVEL: "warn",
};

/** `npm start` in the copy; resolves with its exit code and output once it exits (or is stopped). */
function npmStart(env: Record<string, string | undefined>) {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const proc = Bun.spawn([npmPath, "start", "--silent"], {
    cwd: copy,
    env: { PATH: pathEnv, HOME: process.env.HOME ?? tmp.dir, ...defined },
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([
    pump(proc.stdout as ReadableStream<Uint8Array>),
    pump(proc.stderr as ReadableStream<Uint8Array>),
  ]);
  return {
    proc,
    output: () => output,
    async exit(timeoutMs = 15_000) {
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      await done;
      return code;
    },
  };
}

describe("npm ci --omit=dev in a clean copy", () => {
  test("installs Bun as a runtime dependency and no development tool", () => {
    expect(existsSync(join(copy, "node_modules/.bin/bun"))).toBe(true);
    for (const devOnly of ["playwright-core", "@biomejs/biome", "drizzle-kit", "standardwebhooks", "@trpc/client"]) {
      expect({ devOnly, installed: existsSync(join(copy, "node_modules", devOnly)) }).toEqual({
        devOnly,
        installed: false,
      });
    }
  });

  test("NODE_ENV=production npm start serves: health, a payment on PUBLIC_URL with the PIX key, its page, /docs; SIGTERM exits 0", async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = npmStart({ ...PROD_ENV, PORT: String(port), DATABASE_URL: join(tmp.dir, "prod.sqlite") });
    try {
      const base = `http://127.0.0.1:${port}`;
      let healthy = false;
      for (let i = 0; i < 150 && !healthy && server.proc.exitCode === null; i++) {
        healthy = await fetch(`${base}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (!healthy) await Bun.sleep(100);
      }
      expect({ healthy, output: healthy ? "" : server.output() }).toEqual({ healthy: true, output: "" });
      expect((await fetch(`${base}/readyz`)).status).toBe(200);

      const created = await fetch(`${base}/payments`, {
        method: "POST",
        headers: merchantHeaders(),
        body: JSON.stringify({ value: 254.3, description: "Pedido #1" }),
      });
      expect(created.status).toBe(200);
      const payment = ((await created.json()) as any).payment;
      expect(payment.checkout_url).toStartWith("https://pay.loja.example/pay/");
      expect(payment.pix_copy_paste).toContain("financeiro@loja.example");
      const page = await fetch(`${base}/pay/${payment.bank_payment_id}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("Pedido #1");
      expect((await fetch(`${base}/pay/${payment.bank_payment_id}/qr.png`)).status).toBe(200);
      expect((await fetch(`${base}/docs/assets/swagger-ui-bundle.js`)).status).toBe(200);
      // Production generates no secrets, so it prints none.
      expect(server.output()).not.toContain("Development secrets");

      server.proc.kill("SIGTERM");
      expect(await server.exit()).toBe(0);
    } finally {
      if (server.proc.exitCode === null) server.proc.kill("SIGKILL");
    }
  }, 30_000);

  test.each([
    ["without PUBLIC_URL", { PUBLIC_URL: undefined }, "PUBLIC_URL must be set when NODE_ENV=production"],
    ["without PIX_KEY", { PIX_KEY: undefined }, "PIX_KEY must be set when NODE_ENV=production"],
    ["with the demo PIX_KEY", { PIX_KEY: DEMO_PIX_KEY }, `PIX_KEY is the demo key ${DEMO_PIX_KEY}`],
    ["without API_KEYS", { API_KEYS: undefined }, "API_KEYS must be set when NODE_ENV=production"],
  ])("a production start %s stops (exit 1) with a message naming it", async (_name, change, message) => {
    const run = npmStart({ ...PROD_ENV, PORT: "0", DATABASE_URL: join(tmp.dir, "refused.sqlite"), ...change });
    expect(await run.exit()).toBe(1);
    expect(run.output()).toContain(message);
    expect(existsSync(join(tmp.dir, "refused.sqlite"))).toBe(false);
  });
});

describe("runtime dependencies are honest", () => {
  test("every package src/ imports at run time is in dependencies (not only devDependencies)", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const runtime = new Set(Object.keys(pkg.dependencies));
    const imported = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.(ts|js)$/.test(entry.name)) {
          const source = readFileSync(path, "utf8");
          // `import type` leaves nothing at run time; `import { type X }` alone does not either.
          for (const m of source.matchAll(/^import\s+(?!type\s)([^;]*?)\s+from\s+"([^".][^"]*)";/gms)) {
            if (/^\{\s*(type\s+\w+\s*,?\s*)+\}$/.test(m[1]!)) continue;
            imported.set(m[2]!, relative(ROOT, path));
          }
          for (const m of source.matchAll(/import\.meta\.resolve\(`([^/`$]+(?:\/[^/`$]+)?)\//g)) {
            imported.set(m[1]!, relative(ROOT, path));
          }
        }
      }
    };
    walk(join(ROOT, "src"));
    const packageOf = (specifier: string) =>
      specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!;
    const missing = [...imported]
      .filter(([specifier]) => !specifier.startsWith("node:") && !specifier.startsWith("bun"))
      .map(([specifier, file]) => ({ pkg: packageOf(specifier), file }))
      .filter(({ pkg }) => !runtime.has(pkg));
    expect(imported.size).toBeGreaterThan(5);
    expect(missing).toEqual([]);
    expect(runtime.has("bun")).toBe(true);
  });
});
