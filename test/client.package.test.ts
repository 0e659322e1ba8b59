/**
 * The client as another project gets it (CONTRACT §13): the client folder, with the server sources its types
 * come from, is copied out of the checkout and built there (`npm ci` runs its prepare); `npm pack` makes the
 * tarball; a separate project with a strict tsconfig, Node's types and no Bun types installs it from the
 * registry's way (the tarball), type-checks a script that uses create/get/list/watch, and runs it under
 * Node.js 20 and under Bun against a real server process, watching over SSE and WebSocket. A merchant's
 * webhook receiver imports `@pix-payment-api/client/webhooks` (constructWebhookEvent) from the same install.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  BUN,
  ROOT,
  restConfirm,
  restCreate,
  type ServerProcess,
  spawnServer,
  TEST_API_KEY,
  tempDir,
} from "./harness.ts";
import { launchBrowser } from "./pages.browser.ts";

const SETUP_MS = 120_000;
const FIXTURE = join(ROOT, "test/fixtures/client-consumer");

function need(tool: string): string {
  const path = Bun.which(tool);
  if (!path) throw new Error(`${tool} is not on PATH; the client package test needs Node.js 20+ and npm`);
  return path;
}

async function run(cmd: string[], cwd: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn(cmd, {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? cwd, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code, stdout, stderr };
}

async function mustRun(cmd: string[], cwd: string) {
  const r = await run(cmd, cwd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} failed in ${cwd} (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

const NPM_FAST = ["--no-audit", "--no-fund", "--prefer-offline"];
const tmp = tempDir("payments-client-");
const consumer = join(tmp.dir, "shop");
let npm = "";
let node = "";
let tarball = "";
let packed: string[] = [];
let server: ServerProcess;

beforeAll(async () => {
  npm = need("npm");
  node = need("node");
  const major = Number(/^v(\d+)/.exec((await mustRun([node, "--version"], tmp.dir)).stdout)?.[1]);
  if (!(major >= 20)) throw new Error(`Node.js ${major} is too old: the client supports Node.js 20 and later`);

  // What a clone holds of the client and the sources its types come from, without node_modules or dist.
  const repo = join(tmp.dir, "repo");
  for (const dir of ["src", "client"]) {
    cpSync(join(ROOT, dir), join(repo, dir), {
      recursive: true,
      filter: (src) => !/\/(node_modules|dist)(\/|$)|\.tgz$/.test(src),
    });
  }
  cpSync(join(ROOT, "LICENSE"), join(repo, "LICENSE"));
  const client = join(repo, "client");
  await mustRun([npm, "ci", ...NPM_FAST], client); // runs prepare: the build
  const pack = await mustRun([npm, "pack", "--json", "--pack-destination", tmp.dir], client);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(tmp.dir, info!.filename);
  packed = info!.files.map((f) => f.path);

  mkdirSync(consumer, { recursive: true });
  for (const file of ["package.json", "tsconfig.json", "shop.ts", "web.ts"]) {
    cpSync(join(FIXTURE, file), join(consumer, file));
  }
  // The consumer's own tools, at the versions this repository uses (so the npm cache has them).
  const rootLock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")).packages;
  const typescript = rootLock["node_modules/typescript"].version;
  const typesNode = JSON.parse(readFileSync(join(client, "package-lock.json"), "utf8")).packages[
    "node_modules/@types/node"
  ].version;
  await mustRun(
    [
      npm,
      "install",
      ...NPM_FAST,
      tarball,
      `typescript@${typescript}`,
      `@types/node@${typesNode}`,
      "ws@^8",
      "@types/ws@^8",
    ],
    consumer,
  );

  server = await spawnServer({});
}, SETUP_MS);

afterAll(async () => {
  await server?.stop();
  tmp.cleanup();
});

describe("the packed client", () => {
  test("ships built JavaScript and declarations only: no server source, no bun:, no .ts specifiers", () => {
    expect(packed).toContain("package.json");
    expect(packed).toContain("dist/index.js");
    expect(packed).toContain("dist/index.d.ts");
    expect(packed).toContain("dist/types/src/trpc/router.d.ts");
    expect(packed).toContain("LICENSE");
    expect(packed.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    const installed = join(consumer, "node_modules/@pix-payment-api/client");
    const texts = readdirSync(join(installed, "dist"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => ({ file: e.name, text: readFileSync(join(e.parentPath, e.name), "utf8") }));
    for (const { file, text } of texts) {
      expect({ file, bun: /from\s+["']bun(:|["'])|import\(["']bun/.test(text) }).toEqual({ file, bun: false });
      expect({ file, tsSpecifier: /(from|import\()\s*["'][^"']+\.ts["']/.test(text) }).toEqual({
        file,
        tsSpecifier: false,
      });
    }
    const importsOf = (file: string) =>
      [
        ...readFileSync(join(installed, file), "utf8").matchAll(
          /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm,
        ),
      ]
        .map((m) => m[1])
        .sort();
    expect(importsOf("dist/index.js")).toEqual(["@trpc/client", "eventsource"]);
    // The webhooks entry: its own file, and the event names of src/webhooks/events.ts, which import nothing.
    expect(packed).toContain("dist/webhooks.js");
    expect(packed).toContain("dist/webhooks.d.ts");
    expect(packed.filter((f) => f.startsWith("dist/lib/")).sort()).toEqual([
      "dist/lib/client/webhooks.js",
      "dist/lib/src/webhooks/events.js",
    ]);
    expect(importsOf("dist/webhooks.js")).toEqual(["./lib/client/webhooks.js"]);
    expect(importsOf("dist/lib/client/webhooks.js")).toEqual(["../src/webhooks/events.js", "node:crypto"]);
    expect(importsOf("dist/lib/src/webhooks/events.js")).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest.name).toBe("@pix-payment-api/client");
    expect(manifest.exports["."]).toEqual({
      types: "./dist/index.d.ts",
      import: "./dist/index.js",
      default: "./dist/index.js",
    });
    expect(manifest.exports["./webhooks"]).toEqual({
      types: "./dist/webhooks.d.ts",
      import: "./dist/webhooks.js",
      default: "./dist/webhooks.js",
    });
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["@trpc/client", "@trpc/server", "eventsource"]);
    expect(manifest.peerDependenciesMeta.ws.optional).toBe(true);
  });

  test("a strict tsc in the other project (no Bun types, no server sources) type-checks the script", async () => {
    expect(existsSync(join(consumer, "node_modules/@types/bun"))).toBe(false);
    expect(existsSync(join(consumer, "node_modules/bun-types"))).toBe(false);
    const r = await run([join(consumer, "node_modules/.bin/tsc"), "-p", "."], consumer);
    // The script's @ts-expect-error lines would be reported unused if the types were any.
    expect({ code: r.code, output: r.stdout + r.stderr }).toEqual({ code: 0, output: "" });
    expect(existsSync(join(consumer, "out/shop.js"))).toBe(true);
  });

  test("a wrong call is a type error there, naming the field", async () => {
    await Bun.write(
      join(consumer, "probe.ts"),
      'import { createPaymentClient } from "@pix-payment-api/client";\n' +
        'const c = createPaymentClient({ url: "http://x", apiKey: "k" });\n' +
        "await c.payments.create.mutate({ value: 1, metadata: { order_id: 1234 } });\n",
    );
    await Bun.write(
      join(consumer, "tsconfig.probe.json"),
      JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true }, files: ["probe.ts"] }),
    );
    const r = await run([join(consumer, "node_modules/.bin/tsc"), "-p", "tsconfig.probe.json"], consumer);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain("probe.ts(3,");
    expect(r.stdout).toContain("Type 'number' is not assignable to type 'string'");
  });
});

/** A merchant's webhook receiver, as another project writes it (see the file). */
const RECEIVER = readFileSync(join(FIXTURE, "receiver.ts"), "utf8");

const RECEIVER_EXPECTED = [
  "payment.paid paid",
  "payment.paid paid",
  "refused: No matching signature",
  "refused: Webhook timestamp too old",
  "refund.succeeded rf1 refunded of 7",
  "refund.succeeded rf1 refunded of 7",
  "refused: No matching signature",
  "refused: Webhook timestamp too old",
];

describe("the installed client's webhooks entry (@pix-payment-api/client/webhooks)", () => {
  test("a strict tsc compiles a receiver narrowing the WebhookEvent union, which runs under Node.js 20+ and Bun", async () => {
    writeFileSync(join(consumer, "receiver.ts"), RECEIVER);
    writeFileSync(
      join(consumer, "tsconfig.receiver.json"),
      JSON.stringify({ extends: "./tsconfig.json", files: ["receiver.ts"] }),
    );
    const tsc = await run([join(consumer, "node_modules/.bin/tsc"), "-p", "tsconfig.receiver.json"], consumer);
    expect({ code: tsc.code, output: tsc.stdout + tsc.stderr }).toEqual({ code: 0, output: "" });
    // Node resolves the subpath through the exports map, as ESM (the consumer is "type": "module").
    const onNode = await run([node, "out/receiver.js"], consumer);
    expect({ code: onNode.code, stderr: onNode.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(onNode.stdout)).toEqual(RECEIVER_EXPECTED);
    const onBun = await run([BUN, "receiver.ts"], consumer);
    expect({ code: onBun.code, stderr: onBun.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(onBun.stdout)).toEqual(RECEIVER_EXPECTED);
  }, 30_000);

  test("without the ts-expect-error, reading data.refund of a payment event is a type error", async () => {
    writeFileSync(
      join(consumer, "receiver-probe.ts"),
      RECEIVER.replace("      // @ts-expect-error a payment event carries no refund\n", ""),
    );
    writeFileSync(
      join(consumer, "tsconfig.receiver-probe.json"),
      JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true }, files: ["receiver-probe.ts"] }),
    );
    const r = await run([join(consumer, "node_modules/.bin/tsc"), "-p", "tsconfig.receiver-probe.json"], consumer);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain("Property 'refund' does not exist");
  }, 30_000);
});

/** Runs the shop script, confirming the payment once both of its watchers have the pending state. */
async function runShop(cmd: string[]) {
  const proc = Bun.spawn([...cmd, server.url, TEST_API_KEY], {
    cwd: consumer,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? consumer },
    stdout: "pipe",
    stderr: "pipe",
  });
  const steps: Array<{ step: string; data: any }> = [];
  let confirmed = false;
  const decoder = new TextDecoder();
  let buffered = "";
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      steps.push(JSON.parse(buffered.slice(0, newline)));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
    }
    if (!confirmed && steps.filter((s) => s.step === "watching").length === 2) {
      confirmed = true;
      const created = steps.find((s) => s.step === "created")!.data.payment;
      expect((await restConfirm(server.url, { bank_payment_id: created.bank_payment_id, value: 254.3 })).status).toBe(
        200,
      );
    }
  }
  const code = await proc.exited;
  clearTimeout(timer);
  const stderr = await new Response(proc.stderr).text();
  return { code, steps, stderr, step: (name: string) => steps.find((s) => s.step === name)?.data };
}

describe("the installed client against a real server", () => {
  const expectRun = (r: Awaited<ReturnType<typeof runShop>>) => {
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const created = r.step("created");
    expect(created.message).toBe("The payment has been created");
    expect(created.payment).toMatchObject({ value: 254.3, status: "pending", description: "Pedido #1234" });
    expect(created.cents).toBe(25430);
    expect(created.metadata).toEqual({ order_id: "1234" });
    expect(r.step("got")).toBe("Pedido #1234");
    expect(r.step("listed").ids).toContain(created.payment.id);
    const paid = r.step("paid");
    for (const states of [paid.sse, paid.ws]) expect(states).toEqual(["pending", "paid"]);
    return paid;
  };

  test("under Node.js 20+: create, get, list, and SSE and WebSocket (with ws) watches receive the confirmation", async () => {
    const r = await runShop([node, "out/shop.js"]);
    const paid = expectRun(r);
    expect(paid.runtime).toMatch(/^v\d+\./);
    // Node 20 has no WebSocket of its own (22 has): without one the client says what to pass.
    if (Number(/^v(\d+)/.exec(paid.runtime)![1]) < 22) {
      expect(r.step("ws-without-implementation")).toContain('import WebSocket from "ws"');
    }
  }, 30_000);

  test("under Bun, running the TypeScript as it is, with Bun's own WebSocket", async () => {
    const r = await runShop([BUN, "shop.ts"]);
    expect(expectRun(r).runtime).toBe("bun");
    expect(r.step("ws-without-implementation")).toBeUndefined();
  }, 30_000);
});

describe("the installed client in a browser", () => {
  test("bundled with bun build --target browser, it watches a payment in Chromium over SSE and WebSocket", async () => {
    const build = await run([BUN, "build", "web.ts", "--target", "browser", "--outdir", "web-out"], consumer);
    expect({ code: build.code, stderr: build.stderr }).toEqual({ code: 0, stderr: "" });
    const bundle = readFileSync(join(consumer, "web-out/web.js"), "utf8");
    expect(bundle).not.toMatch(/from\s*["']node:|require\(["']node:/);
    expect(bundle).not.toContain("</script");

    const { payment } = (await restCreate(server.url, 12.34)).body;
    const browser = await launchBrowser();
    try {
      // The page below is fulfilled by the test, so Chromium cannot tell it is local and would block its
      // WebSocket to 127.0.0.1 (Local Network Access); a shop's page on a public origin needs no such grant.
      const page = await (await browser.newContext({ permissions: ["local-network-access"] })).newPage();
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(err.message));
      page.on("console", (m) => errors.push(`console.${m.type()}: ${m.text()}`));
      // A shop page on the service's own origin (SSE needs no CORS then); the service never serves it.
      await page.route(
        (url) => url.pathname === "/__shop",
        (route) =>
          route.fulfill({
            contentType: "text/html; charset=utf-8",
            body: `<!doctype html><html><body><script type="module">${bundle}</script></body></html>`,
          }),
      );
      await page.goto(`${server.url}/__shop?bank_payment_id=${payment.bank_payment_id}`);
      const both = (status: string) =>
        page.waitForFunction((s) => document.body.dataset.sse === s && document.body.dataset.ws === s, status, {
          timeout: 10_000,
        });
      await both("pending").catch(async (err) => {
        throw new Error(
          `${err.message}; ${await page.evaluate(() => document.body.outerHTML.slice(0, 200))}; ${errors}`,
        );
      });
      expect((await restConfirm(server.url, { bank_payment_id: payment.bank_payment_id, value: 12.34 })).status).toBe(
        200,
      );
      await both("paid");
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});
