import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_LIMITS } from "./limits.ts";

/** Where development secrets are kept between restarts (CONTRACT §2: "kept in ./data/"). */
export const DEV_SECRETS_FILE = "./data/dev-secrets.json";

/** The example key of the Banco Central's BR Code manual: fine for trying the service, but it belongs to nobody. */
export const DEMO_PIX_KEY = "123e4567-e12b-12d1-a456-426655440000";

const emptyAsUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

const integer = (min: number, max: number) =>
  z.preprocess(
    emptyAsUndefined,
    z.string().regex(/^\d+$/, "must be a whole number").transform(Number).pipe(z.number().int().min(min).max(max)),
  );

const envSchema = z.object({
  NODE_ENV: z.preprocess(emptyAsUndefined, z.enum(["development", "production", "test"]).default("development")),
  PORT: integer(0, 65535).default(3000),
  HOST: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9.:%-]{1,253}$/, "must be an IP address or a host name (e.g. 127.0.0.1, ::, localhost)")
      .default("0.0.0.0"),
  ),
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default("./data/payments.sqlite")
      .refine(
        (v) => !/^postgres(?:ql)?:\/\//i.test(v) || URL.canParse(v),
        "must be a postgres:// URL (postgres://user:password@host:5432/database) or a SQLite path",
      ),
  ),
  DATABASE_POOL_SIZE: integer(1, 1000).default(10),
  REDIS_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((v) => /^rediss?:\/\//.test(v) && URL.canParse(v), "must be a redis:// or rediss:// URL")
      .optional(),
  ),
  API_KEYS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .transform((v) =>
        v
          .split(",")
          .map((k) => k.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().min(16, "each key must have at least 16 characters")).min(1))
      .optional(),
  ),
  WEBHOOK_SECRET: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, "must be a Standard Webhooks secret: whsec_ followed by base64")
      .refine((v) => Buffer.from(v.slice(6), "base64").length >= 16, "must hold at least 16 bytes of key")
      .optional(),
  ),
  PAYMENT_TTL_SECONDS: integer(1, 60 * 60 * 24 * 366).default(1800),
  // No default here: production must tell a missing key from one that was set (see loadConfig).
  PIX_KEY: z.preprocess(emptyAsUndefined, z.string().max(77).optional()),
  PIX_MERCHANT_NAME: z.preprocess(emptyAsUndefined, z.string().max(200).default("Loja Demo")),
  PIX_MERCHANT_CITY: z.preprocess(emptyAsUndefined, z.string().max(200).default("Sao Paulo")),
  PUBLIC_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), "must be an http:// or https:// URL")
      .transform((v) => v.replace(/\/+$/, ""))
      .optional(),
  ),
  EXPIRY_SWEEP_MS: integer(100, 3_600_000).default(1000),
  WS_MAX_CONNECTIONS: integer(1, 1_000_000).default(DEFAULT_LIMITS.wsMaxConnections),
  MAX_WATCHES: integer(1, 10_000_000).default(DEFAULT_LIMITS.maxWatches),
  WS_IDLE_GRACE_MS: integer(100, 3_600_000).default(DEFAULT_LIMITS.wsIdleGraceMs),
  WS_MESSAGES_PER_SECOND: integer(1, 1_000_000).default(DEFAULT_LIMITS.wsMessagesPerSecond),
  WS_MESSAGE_BURST: integer(1, 1_000_000).default(DEFAULT_LIMITS.wsMessageBurst),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ),
  PSP_API_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), "must be an http:// or https:// URL")
      .transform((v) => v.replace(/\/+$/, ""))
      .optional(),
  ),
  PSP_CLIENT_ID: z.preprocess(emptyAsUndefined, z.string().max(500).optional()),
  PSP_CLIENT_SECRET: z.preprocess(emptyAsUndefined, z.string().max(500).optional()),
  PSP_CERT_FILE: z.preprocess(emptyAsUndefined, z.string().optional()),
  PSP_KEY_FILE: z.preprocess(emptyAsUndefined, z.string().optional()),
  PSP_WEBHOOK_TOKEN: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .min(16, "must have at least 16 characters")
      .max(500)
      .regex(/^[\x21-\x7E]+$/, "must be visible ASCII characters (it travels in a URL)")
      .optional(),
  ),
  WEBHOOK_RETRY_SCHEDULE: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default("0,5,300,1800,7200,18000,36000,36000")
      .refine(
        (v) => /^\s*\d{1,6}\s*(,\s*\d{1,6}\s*){0,19}$/.test(v) && v.split(",").every((n) => Number(n) <= 604_800),
        "must be 1 to 20 comma-separated whole seconds, each at most 604800 (7 days), e.g. 0,5,300",
      )
      .transform((v) => v.split(",").map((n) => Number(n) * 1000)),
  ),
  WEBHOOK_ALLOW_PRIVATE_URLS: z.preprocess(emptyAsUndefined, z.enum(["true", "false"]).optional()),
  WEBHOOK_RETENTION_DAYS: integer(1, 3650).default(30),
  WEBHOOK_ENCRYPTION_KEY: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        (v) =>
          (/^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, "base64").length === 32) || /^[0-9a-fA-F]{64}$/.test(v),
        "must be 32 bytes in base64 (44 characters) or hex (64 characters), e.g. from `openssl rand -base64 32`",
      )
      .optional(),
  ),
});

/** The bank/PSP's API Pix, when PSP_API_URL is set (CONTRACT §11). */
export interface PspConfig {
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** The PEM client certificate and key, read at start-up, for PSPs that require mTLS. */
  tls?: { cert: string; key: string };
}

/** Reads a PEM file named by an environment variable, or says why it cannot. */
function readPem(name: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      `Invalid configuration:\n  ${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(text)) {
    throw new ConfigError(`Invalid configuration:\n  ${name}: ${path} is not a PEM file`);
  }
  return text;
}

function pspConfig(e: z.infer<typeof envSchema>): PspConfig | undefined {
  const problems: string[] = [];
  if (e.PSP_API_URL) {
    if (!e.PSP_CLIENT_ID) problems.push("PSP_CLIENT_ID: must be set with PSP_API_URL (OAuth2 client credentials)");
    if (!e.PSP_CLIENT_SECRET)
      problems.push("PSP_CLIENT_SECRET: must be set with PSP_API_URL (OAuth2 client credentials)");
  } else {
    for (const name of ["PSP_CLIENT_ID", "PSP_CLIENT_SECRET", "PSP_CERT_FILE", "PSP_KEY_FILE"] as const) {
      if (e[name]) problems.push(`${name}: is set but PSP_API_URL is not`);
    }
  }
  if (Boolean(e.PSP_CERT_FILE) !== Boolean(e.PSP_KEY_FILE)) {
    problems.push("PSP_CERT_FILE, PSP_KEY_FILE: set both (a client certificate and its key) or neither");
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n  ${problems.join("\n  ")}`);
  if (!e.PSP_API_URL) return undefined;
  return {
    apiUrl: e.PSP_API_URL,
    clientId: e.PSP_CLIENT_ID!,
    clientSecret: e.PSP_CLIENT_SECRET!,
    ...(e.PSP_CERT_FILE && e.PSP_KEY_FILE
      ? { tls: { cert: readPem("PSP_CERT_FILE", e.PSP_CERT_FILE), key: readPem("PSP_KEY_FILE", e.PSP_KEY_FILE) } }
      : {}),
  };
}

export interface Config {
  nodeEnv: "development" | "production" | "test";
  port: number;
  /** Address Bun.serve listens on (HOST). */
  host: string;
  /** A SQLite path, or a postgres:// URL. */
  databaseUrl: string;
  /** PostgreSQL connections per instance. */
  databasePoolSize: number;
  redisUrl: string | undefined;
  apiKeys: string[];
  webhookSecret: string;
  paymentTtlSeconds: number;
  pix: { key: string; merchantName: string; merchantCity: string };
  /** Base of returned links; undefined means http://localhost:<bound port>. */
  publicUrl: string | undefined;
  expirySweepMs: number;
  /** The configurable caps (src/limits.ts has their defaults and the fixed ones). */
  limits: {
    wsMaxConnections: number;
    maxWatches: number;
    wsIdleGraceMs: number;
    wsMessagesPerSecond: number;
    wsMessageBurst: number;
  };
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** The PSP's API Pix (PSP_API_URL); undefined: the simulated PSP outside production, no refunds in it. */
  psp: PspConfig | undefined;
  /** A token a PSP that cannot sign sends as `?token=` on POST /webhooks/pix (PSP_WEBHOOK_TOKEN). */
  pspWebhookToken: string | undefined;
  /** Merchant webhooks (CONTRACT §10). */
  merchantWebhooks: {
    /** Milliseconds before each attempt (WEBHOOK_RETRY_SCHEDULE). */
    retryScheduleMs: number[];
    /** Whether endpoint URLs may resolve to loopback, private or link-local addresses (and be plain http). */
    allowPrivateUrls: boolean;
    retentionMs: number;
    /** The key that seals endpoint secrets in the database: WEBHOOK_ENCRYPTION_KEY, else from WEBHOOK_SECRET. */
    encryptionKey: string;
  };
  /** Development secrets in use on this start, generated now or kept from before (printed at every start). */
  generated: { apiKey?: string; webhookSecret?: string };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

interface DevSecrets {
  api_key?: string;
  webhook_secret?: string;
}

function readDevSecrets(): DevSecrets {
  if (!existsSync(DEV_SECRETS_FILE)) return {};
  try {
    return JSON.parse(readFileSync(DEV_SECRETS_FILE, "utf8")) as DevSecrets;
  } catch {
    throw new ConfigError(`${DEV_SECRETS_FILE} is not valid JSON; delete it to generate new development secrets`);
  }
}

/** Reads the development secrets kept in ./data/ (used by the bank simulator too). */
export function loadDevSecrets(): DevSecrets {
  return readDevSecrets();
}

/**
 * Parses the environment once. A bad value throws a ConfigError naming the variable; outside production
 * a missing API key or webhook secret is generated and kept in ./data/ so it survives restarts.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const e = parsed.data;
  const psp = pspConfig(e);
  const generated: Config["generated"] = {};
  let apiKeys = e.API_KEYS;
  let webhookSecret = e.WEBHOOK_SECRET;

  if (e.NODE_ENV === "production") {
    const missing = [
      !apiKeys && "API_KEYS",
      !webhookSecret && "WEBHOOK_SECRET",
      !e.PUBLIC_URL && "PUBLIC_URL",
      !e.PIX_KEY && "PIX_KEY",
    ].filter((name): name is string => Boolean(name));
    const why = [
      !e.PUBLIC_URL && "PUBLIC_URL: the links payers get must not point at localhost",
      !e.PIX_KEY && "PIX_KEY: without it every BR Code carries the demo key, and payments would go to nobody",
    ].filter(Boolean);
    if (missing.length) {
      const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(", ")} and ${missing.at(-1)}`;
      throw new ConfigError(
        [`${list} must be set when NODE_ENV=production`, ...why.map((line) => `  ${line}`)].join("\n"),
      );
    }
    if (e.PIX_KEY === DEMO_PIX_KEY) {
      throw new ConfigError(
        `PIX_KEY is the demo key ${DEMO_PIX_KEY} (the BR Code manual's example, which belongs to nobody): ` +
          "set the merchant's own PIX key when NODE_ENV=production",
      );
    }
  } else if (!apiKeys || !webhookSecret) {
    const kept = readDevSecrets();
    let changed = false;
    if (!apiKeys) {
      if (!kept.api_key) {
        kept.api_key = `sk_dev_${randomBytes(24).toString("base64url")}`;
        changed = true;
      }
      apiKeys = [kept.api_key];
      generated.apiKey = kept.api_key;
    }
    if (!webhookSecret) {
      if (!kept.webhook_secret) {
        kept.webhook_secret = `whsec_${randomBytes(32).toString("base64")}`;
        changed = true;
      }
      webhookSecret = kept.webhook_secret;
      generated.webhookSecret = kept.webhook_secret;
    }
    if (changed) {
      mkdirSync("./data", { recursive: true });
      const text = `${JSON.stringify(kept, null, 2)}\n`;
      if (existsSync(DEV_SECRETS_FILE)) {
        writeFileSync(DEV_SECRETS_FILE, text, { mode: 0o600 });
      } else {
        // Two instances starting at once must end up with the same secrets: the file appears whole
        // (written aside, then linked), and only the first link wins; the loser reads the winner's.
        const aside = `${DEV_SECRETS_FILE}.${process.pid}.tmp`;
        writeFileSync(aside, text, { mode: 0o600 });
        try {
          linkSync(aside, DEV_SECRETS_FILE);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          return loadConfig(env);
        } finally {
          unlinkSync(aside);
        }
      }
    }
  }

  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    apiKeys: apiKeys!,
    webhookSecret: webhookSecret!,
    paymentTtlSeconds: e.PAYMENT_TTL_SECONDS,
    pix: { key: e.PIX_KEY ?? DEMO_PIX_KEY, merchantName: e.PIX_MERCHANT_NAME, merchantCity: e.PIX_MERCHANT_CITY },
    publicUrl: e.PUBLIC_URL,
    expirySweepMs: e.EXPIRY_SWEEP_MS,
    limits: {
      wsMaxConnections: e.WS_MAX_CONNECTIONS,
      maxWatches: e.MAX_WATCHES,
      wsIdleGraceMs: e.WS_IDLE_GRACE_MS,
      wsMessagesPerSecond: e.WS_MESSAGES_PER_SECOND,
      wsMessageBurst: e.WS_MESSAGE_BURST,
    },
    logLevel: e.LOG_LEVEL,
    psp,
    pspWebhookToken: e.PSP_WEBHOOK_TOKEN,
    merchantWebhooks: {
      retryScheduleMs: e.WEBHOOK_RETRY_SCHEDULE,
      allowPrivateUrls: e.WEBHOOK_ALLOW_PRIVATE_URLS
        ? e.WEBHOOK_ALLOW_PRIVATE_URLS === "true"
        : e.NODE_ENV !== "production",
      retentionMs: e.WEBHOOK_RETENTION_DAYS * 24 * 60 * 60 * 1000,
      encryptionKey: e.WEBHOOK_ENCRYPTION_KEY ?? webhookSecret!,
    },
    generated,
  };
}
