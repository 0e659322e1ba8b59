import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DEMO_PIX_KEY, loadConfig } from "../src/config.ts";
import { BACKEND } from "./backend.ts";
import { BUN, ROOT, spawnServer, TEST_API_KEY, TEST_WEBHOOK_SECRET, tempDir } from "./harness.ts";

const base = { API_KEYS: TEST_API_KEY, WEBHOOK_SECRET: TEST_WEBHOOK_SECRET };

describe("loadConfig", () => {
  test("defaults match the contract", () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      nodeEnv: "development",
      port: 3000,
      databaseUrl: "./data/payments.sqlite",
      redisUrl: undefined,
      paymentTtlSeconds: 1800,
      publicUrl: undefined,
      apiKeys: [TEST_API_KEY],
    });
  });

  test("the caps have the defaults of src/limits.ts, and each can be set", () => {
    expect(loadConfig(base).limits).toEqual({
      wsMaxConnections: 10_000,
      maxWatches: 50_000,
      wsIdleGraceMs: 10_000,
      wsMessagesPerSecond: 10,
      wsMessageBurst: 40,
    });
    const set = loadConfig({
      ...base,
      WS_MAX_CONNECTIONS: "5",
      MAX_WATCHES: "6",
      WS_IDLE_GRACE_MS: "700",
      WS_MESSAGES_PER_SECOND: "8",
      WS_MESSAGE_BURST: "9",
    }).limits;
    expect(set).toEqual({
      wsMaxConnections: 5,
      maxWatches: 6,
      wsIdleGraceMs: 700,
      wsMessagesPerSecond: 8,
      wsMessageBurst: 9,
    });
  });

  test("API_KEYS is a comma-separated list", () => {
    expect(loadConfig({ ...base, API_KEYS: "key_aaaaaaaaaaaaaaaa, key_bbbbbbbbbbbbbbbb" }).apiKeys).toEqual([
      "key_aaaaaaaaaaaaaaaa",
      "key_bbbbbbbbbbbbbbbb",
    ]);
  });

  test.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PAYMENT_TTL_SECONDS", "0"],
    ["PAYMENT_TTL_SECONDS", "ten"],
    ["REDIS_URL", "localhost:6379"],
    ["PUBLIC_URL", "pay.example.com"],
    ["WEBHOOK_SECRET", "not-a-whsec"],
    ["API_KEYS", "short"],
    ["NODE_ENV", "staging"],
    ["EXPIRY_SWEEP_MS", "5"],
    ["LOG_LEVEL", "loud"],
    ["WS_MAX_CONNECTIONS", "0"],
    ["WS_MAX_CONNECTIONS", "lots"],
    ["MAX_WATCHES", "-5"],
    ["WS_IDLE_GRACE_MS", "10"],
    ["WS_MESSAGES_PER_SECOND", "1.5"],
    ["WS_MESSAGE_BURST", "0"],
    ["HOST", "my host"],
    ["HOST", "http://127.0.0.1"],
    ["WEBHOOK_RETRY_SCHEDULE", "abc"],
    ["WEBHOOK_RETRY_SCHEDULE", "5,-1"],
    ["WEBHOOK_RETRY_SCHEDULE", Array.from({ length: 21 }, () => "1").join(",")],
    ["WEBHOOK_RETRY_SCHEDULE", "0,,5"],
    ["WEBHOOK_ALLOW_PRIVATE_URLS", "yes"],
    ["WEBHOOK_RETENTION_DAYS", "0"],
  ])("a bad %s (%p) stops start-up with a message naming it", (name, value) => {
    let error: unknown;
    try {
      loadConfig({ ...base, [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(name);
  });

  test("production refuses to start without API_KEYS, WEBHOOK_SECRET, PUBLIC_URL and PIX_KEY, naming each", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(
      /^API_KEYS, WEBHOOK_SECRET, PUBLIC_URL and PIX_KEY must be set when NODE_ENV=production\n/,
    );
    const prod = {
      NODE_ENV: "production",
      ...base,
      PUBLIC_URL: "https://pay.example.com",
      PIX_KEY: "loja@example.com",
    };
    expect(() => loadConfig({ ...prod, WEBHOOK_SECRET: "" })).toThrow(/^WEBHOOK_SECRET must be set/);
    expect(() => loadConfig({ ...prod, PUBLIC_URL: undefined })).toThrow(
      /^PUBLIC_URL must be set when NODE_ENV=production\n {2}PUBLIC_URL: the links payers get must not point at localhost$/,
    );
    expect(() => loadConfig({ ...prod, PIX_KEY: "" })).toThrow(/^PIX_KEY must be set when NODE_ENV=production\n/);
    expect(() => loadConfig({ ...prod, PIX_KEY: DEMO_PIX_KEY })).toThrow(/^PIX_KEY is the demo key/);
    const c = loadConfig(prod);
    expect(c.apiKeys).toEqual([TEST_API_KEY]);
    expect(c.pix.key).toBe("loja@example.com");
    expect(c.publicUrl).toBe("https://pay.example.com");
  });

  test("outside production the demo PIX key and a localhost PUBLIC_URL are the defaults", () => {
    const c = loadConfig(base);
    expect(c.pix.key).toBe(DEMO_PIX_KEY);
    expect(c.publicUrl).toBeUndefined();
    expect(c.host).toBe("0.0.0.0");
    expect(loadConfig({ ...base, HOST: "127.0.0.1" }).host).toBe("127.0.0.1");
    expect(loadConfig({ ...base, HOST: "::1" }).host).toBe("::1");
  });

  test("PSP_* (CONTRACT §2): the API Pix URL with its client credentials, a readable certificate and key", () => {
    const tmp = tempDir("psp-config-");
    try {
      const pem = (kind: string) => `-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`;
      writeFileSync(`${tmp.dir}/cert.pem`, pem("CERTIFICATE"));
      writeFileSync(`${tmp.dir}/key.pem`, pem("PRIVATE KEY"));
      writeFileSync(`${tmp.dir}/junk.txt`, "not a pem");
      const psp = {
        ...base,
        PSP_API_URL: "https://pix.example.com/api/v2/",
        PSP_CLIENT_ID: "client",
        PSP_CLIENT_SECRET: "secret",
      };
      expect(loadConfig(base)).toMatchObject({ psp: undefined, pspWebhookToken: undefined });
      expect(loadConfig(psp).psp).toEqual({
        apiUrl: "https://pix.example.com/api/v2",
        clientId: "client",
        clientSecret: "secret",
      });
      expect(
        loadConfig({ ...psp, PSP_CERT_FILE: `${tmp.dir}/cert.pem`, PSP_KEY_FILE: `${tmp.dir}/key.pem` }).psp?.tls,
      ).toEqual({ cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") });
      expect(loadConfig({ ...base, PSP_WEBHOOK_TOKEN: "0123456789abcdef" }).pspWebhookToken).toBe("0123456789abcdef");

      const refused = (env: Record<string, string>, message: RegExp) => {
        expect(() => loadConfig(env)).toThrow(ConfigError);
        expect(() => loadConfig(env)).toThrow(message);
      };
      refused({ ...psp, PSP_API_URL: "pix.example.com" }, /PSP_API_URL: must be an http:\/\/ or https:\/\/ URL/);
      refused({ ...psp, PSP_CLIENT_ID: "" }, /PSP_CLIENT_ID: must be set with PSP_API_URL/);
      refused({ ...psp, PSP_CLIENT_SECRET: "" }, /PSP_CLIENT_SECRET: must be set with PSP_API_URL/);
      refused({ ...base, PSP_CLIENT_ID: "client" }, /PSP_CLIENT_ID: is set but PSP_API_URL is not/);
      refused({ ...psp, PSP_CERT_FILE: `${tmp.dir}/cert.pem` }, /PSP_CERT_FILE, PSP_KEY_FILE: set both/);
      refused(
        { ...psp, PSP_CERT_FILE: `${tmp.dir}/missing.pem`, PSP_KEY_FILE: `${tmp.dir}/key.pem` },
        /PSP_CERT_FILE: cannot read .*missing\.pem \(ENOENT\)/,
      );
      refused(
        { ...psp, PSP_CERT_FILE: `${tmp.dir}/cert.pem`, PSP_KEY_FILE: `${tmp.dir}/junk.txt` },
        /PSP_KEY_FILE: .*junk\.txt is not a PEM file/,
      );
      refused({ ...base, PSP_WEBHOOK_TOKEN: "short" }, /PSP_WEBHOOK_TOKEN: must have at least 16 characters/);
      refused({ ...base, PSP_WEBHOOK_TOKEN: "sixteen chars ok ok" }, /PSP_WEBHOOK_TOKEN: must be visible ASCII/);
    } finally {
      tmp.cleanup();
    }
  });
});

const runServer = (cwd: string, env: Record<string, string>, ms = 15_000) => {
  const proc = Bun.spawn([BUN, join(ROOT, "src/index.ts")], {
    cwd,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGTERM"), ms);
  return proc.exited.then(async (code) => {
    clearTimeout(timer);
    return { code, out: (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text()) };
  });
};

describe("start-up as a process", () => {
  test("SIGTERM sent the moment it prints 'listening' is a clean shutdown (exit 0), every time", async () => {
    // The handlers must be in place before the line: a supervisor may act on it at once. Before this was
    // fixed, 20 of 30 such starts died of the signal (143).
    for (let i = 0; i < 5; i++) {
      const tmp = tempDir();
      const proc = Bun.spawn([BUN, join(ROOT, "src/index.ts")], {
        cwd: tmp.dir,
        env: {
          PATH: process.env.PATH ?? "",
          PORT: "0",
          NODE_ENV: "test",
          LOG_LEVEL: "warn",
          API_KEYS: TEST_API_KEY,
          WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      try {
        const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
        let out = "";
        while (!out.includes("listening")) {
          const { value, done } = await reader.read();
          if (done) break;
          out += new TextDecoder().decode(value);
        }
        expect(out).toContain("listening");
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      } finally {
        proc.kill("SIGKILL");
        tmp.cleanup();
      }
    }
  });

  test("a bad value exits 1 with the variable's name, before opening anything", async () => {
    const tmp = tempDir();
    try {
      const { code, out } = await runServer(tmp.dir, { PORT: "nope" });
      expect(code).toBe(1);
      expect(out).toContain("PORT");
      expect(existsSync(join(tmp.dir, "data/payments.sqlite"))).toBe(false);
    } finally {
      tmp.cleanup();
    }
  });

  test("NODE_ENV=production without secrets exits 1 and says which", async () => {
    const tmp = tempDir();
    try {
      const { code, out } = await runServer(tmp.dir, { NODE_ENV: "production" });
      expect(code).toBe(1);
      expect(out).toContain("API_KEYS, WEBHOOK_SECRET, PUBLIC_URL and PIX_KEY must be set when NODE_ENV=production");
    } finally {
      tmp.cleanup();
    }
  });

  test("HOST chooses the listen address: 127.0.0.1 answers on loopback only, the default 0.0.0.0 everywhere", async () => {
    // 127.0.0.2 is another loopback address on Linux: reachable when bound to 0.0.0.0, not to 127.0.0.1.
    const reach = (url: string) =>
      fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status,
        () => "refused",
      );
    const local = await spawnServer({ HOST: "127.0.0.1" });
    try {
      expect(local.output()).toContain("(HOST 127.0.0.1,");
      expect(await reach(`http://127.0.0.1:${local.port}/healthz`)).toBe(200);
      expect(await reach(`http://127.0.0.2:${local.port}/healthz`)).toBe("refused");
    } finally {
      await local.stop();
    }
    const open = await spawnServer({});
    try {
      expect(open.output()).toContain("(HOST 0.0.0.0,");
      expect(await reach(`http://127.0.0.2:${open.port}/healthz`)).toBe(200);
    } finally {
      await open.stop();
    }
  });

  test("outside production, missing secrets are generated once, kept in ./data/, printed, and reused", async () => {
    const tmp = tempDir();
    const noSecrets = { API_KEYS: "", WEBHOOK_SECRET: "", NODE_ENV: "development" };
    try {
      const first = await spawnServer(noSecrets, tmp.dir);
      expect(await first.stop()).toBe(0);
      const kept = JSON.parse(readFileSync(join(tmp.dir, "data/dev-secrets.json"), "utf8"));
      expect(kept.api_key).toMatch(/^sk_dev_/);
      expect(kept.webhook_secret).toMatch(/^whsec_/);
      expect(first.output()).toContain(kept.api_key);
      expect(first.output()).toContain(kept.webhook_secret);
      const second = await spawnServer(noSecrets, tmp.dir);
      expect(await second.stop()).toBe(0);
      // Printed at every start, not only the one that generated them.
      expect(second.output()).toContain(kept.api_key);
      expect(second.output()).toContain(kept.webhook_secret);
      expect(JSON.parse(readFileSync(join(tmp.dir, "data/dev-secrets.json"), "utf8"))).toEqual(kept);
      // The default SQLite file, created with its folder; on the PostgreSQL pass the process used PostgreSQL.
      expect(existsSync(join(tmp.dir, "data/payments.sqlite"))).toBe(BACKEND === "sqlite");
    } finally {
      tmp.cleanup();
    }
  });
});

describe("development secrets with several instances", () => {
  test("instances starting at once in one folder all use the same generated secrets", async () => {
    const tmp = tempDir();
    const noSecrets = { API_KEYS: "", WEBHOOK_SECRET: "", NODE_ENV: "development" };
    try {
      const servers = await Promise.all([1, 2, 3, 4].map(() => spawnServer(noSecrets, tmp.dir)));
      for (const server of servers) expect(await server.stop()).toBe(0);
      const kept = JSON.parse(readFileSync(join(tmp.dir, "data/dev-secrets.json"), "utf8"));
      for (const server of servers) {
        expect(server.output()).toContain(kept.api_key);
        expect(server.output()).toContain(kept.webhook_secret);
      }
    } finally {
      tmp.cleanup();
    }
  });
});
