/**
 * Plays a PSP that speaks the Banco Central's API Pix (the subset this service uses), as a real HTTP server:
 *   npm run bank:psp
 * - POST /oauth/token                   OAuth2 client credentials (HTTP Basic, form-encoded grant_type)
 * - GET  /pix/{e2eid}                   a received Pix, with its devoluções
 * - PUT  /pix/{e2eid}/devolucao/{id}    asks for a devolução: EM_PROCESSAMENTO, then DEVOLVIDO (or
 *                                       NAO_REALIZADO) after a delay, announced by the callback below
 * - GET  /pix/{e2eid}/devolucao/{id}    a devolução
 * - POST {webhook url}/pix              the callback it makes to the service: {"pix": [...]}, signed
 * - POST /simulator/pix                 the simulator's own (not API Pix): `npm run bank:pay` registers the Pix
 *                                       it pays with here, so the service's confirming GET finds it
 * Environment: BANK_PSP_PORT (3100), PSP_CLIENT_ID / PSP_CLIENT_SECRET (the credentials it accepts; defaults
 * below), PAYMENTS_URL (the service, default http://localhost:$PORT, PORT default 3000), WEBHOOK_SECRET (signs
 * the callback; default: the development secret in ./data/), BANK_PSP_SETTLE_MS (1000) and
 * BANK_PSP_REFUND_OUTCOME (DEVOLVIDO or NAO_REALIZADO).
 * Tests start the same server with `startPspSimulator` and watch or bend what it answers.
 */
import { formatPixAmount, parsePixAmount } from "../src/pix/amount.ts";
import {
  DEVOLUCAO_ID,
  type Devolucao,
  devolucaoSolicitadaSchema,
  END_TO_END_ID,
  type Pix,
  pixSchema,
} from "../src/pix/api-pix.ts";
import { secretKey, signatureHeaders } from "../src/webhooks/standard-webhooks.ts";

export const DEFAULT_CLIENT_ID = "sim-client";
export const DEFAULT_CLIENT_SECRET = "sim-secret-not-for-production";

/** One request the simulator received, as it arrived. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface PspSimulatorOptions {
  port?: number;
  hostname?: string;
  clientId?: string;
  clientSecret?: string;
  /** The webhook URL registered with the PSP; callbacks go to `${webhookUrl}/pix` (BCB: `{webhookUrl}/pix`). */
  webhookUrl?: string;
  /** Signs callbacks with Standard Webhooks; without it, `webhookToken` is sent as `?token=`. */
  webhookSecret?: string;
  webhookToken?: string;
  /** Lifetime of the tokens it issues (`expires_in`), seconds. */
  tokenTtlSeconds?: number;
  /** How long a devolução stays EM_PROCESSAMENTO before it settles and the callback is made. */
  settleDelayMs?: number;
  /** How devoluções settle. */
  refundOutcome?: "DEVOLVIDO" | "NAO_REALIZADO";
  /** Where the simulator's own log lines go (none by default). */
  log?: (line: string) => void;
}

export interface PspSimulator {
  url: string;
  port: number;
  /** Every request, in order. */
  requests: RecordedRequest[];
  /** The Pix it knows, by endToEndId. */
  pix: Map<string, Pix>;
  /** Tokens issued so far. */
  tokensIssued: () => number;
  /** Makes every token issued so far invalid (the next call with one answers 401). */
  revokeTokens(): void;
  /** A Pix the PSP received (as `bank:pay` registers it). */
  registerPix(pix: Pix): void;
  /**
   * Answers instead of the simulator when it returns (or resolves to) a Response: a test's fault, a 503, a
   * slow answer. Undefined lets the simulator answer. Set and cleared at any time.
   */
  intercept: ((req: Request, url: URL) => Response | undefined | Promise<Response | undefined>) | undefined;
  /** Where callbacks go: `${webhookUrl}/pix`. */
  webhookUrl: string | undefined;
  /** What PUT answers: EM_PROCESSAMENTO (then the callback after `settleDelayMs`), or the final status at once. */
  putAnswer: "EM_PROCESSAMENTO" | "FINAL";
  /** Whether it makes the callback once a devolução settles. */
  callbacks: boolean;
  refundOutcome: "DEVOLVIDO" | "NAO_REALIZADO";
  /** Settles every devolução still EM_PROCESSAMENTO now, with the callback. */
  settleAll(): Promise<void>;
  /** Callbacks made so far, with the service's answer. */
  callbacksMade: Array<{ body: string; status: number | null }>;
  stop(): Promise<void>;
}

const problem = (status: number, title: string, detail?: string) =>
  Response.json(
    { type: `https://pix.bcb.gov.br/api/v2/error/${title.replace(/\s+/g, "")}`, title, status, detail },
    { status, headers: { "content-type": "application/problem+json" } },
  );

/** Starts the simulated API Pix on a port (0: any free one). */
export function startPspSimulator(options: PspSimulatorOptions = {}): PspSimulator {
  const clientId = options.clientId ?? DEFAULT_CLIENT_ID;
  const clientSecret = options.clientSecret ?? DEFAULT_CLIENT_SECRET;
  const ttl = options.tokenTtlSeconds ?? 3600;
  const settleDelay = options.settleDelayMs ?? 1000;
  const log = options.log ?? (() => {});
  const tokens = new Map<string, number>(); // token → expiry (ms)
  const pix = new Map<string, Pix>();
  const pending = new Map<string, ReturnType<typeof setTimeout>>(); // `${e2e}/${id}` → settle timer
  const requests: RecordedRequest[] = [];
  let issued = 0;

  const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`;
  const authorized = (req: Request) => {
    const m = /^Bearer (\S+)$/.exec(req.headers.get("authorization") ?? "");
    const expiry = m ? tokens.get(m[1]!) : undefined;
    return expiry !== undefined && expiry > Date.now();
  };

  async function callback(one: Pix) {
    if (!sim.callbacks || !sim.webhookUrl) return;
    const body = JSON.stringify({ pix: [one] });
    let target = `${sim.webhookUrl.replace(/\/+$/, "")}/pix`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.webhookSecret) {
      const id = `msg_${crypto.randomUUID()}`;
      Object.assign(
        headers,
        signatureHeaders([secretKey(options.webhookSecret)], id, Math.floor(Date.now() / 1000), body),
      );
    } else if (options.webhookToken) {
      target += `?token=${encodeURIComponent(options.webhookToken)}`;
    }
    const made = { body, status: null as number | null };
    sim.callbacksMade.push(made);
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await fetch(target, { method: "POST", headers, body, signal: AbortSignal.timeout(5000) });
        made.status = res.status;
        log(`callback ${target}: ${res.status} ${await res.text()}`);
        if (res.ok) return;
      } catch (err) {
        log(`callback ${target} failed: ${(err as Error).message}`);
      }
      await Bun.sleep(1000 * attempt);
    }
  }

  function settle(e2e: string, id: string): Pix | undefined {
    const key = `${e2e}/${id}`;
    clearTimeout(pending.get(key));
    pending.delete(key);
    const one = pix.get(e2e);
    const devolucao = one?.devolucoes?.find((d) => d.id === id);
    if (!one || !devolucao || devolucao.status !== "EM_PROCESSAMENTO") return undefined;
    devolucao.status = sim.refundOutcome;
    devolucao.horario.liquidacao = new Date().toISOString();
    if (sim.refundOutcome === "NAO_REALIZADO") devolucao.motivo = "Conta do pagador encerrada";
    log(`devolução ${id} of ${e2e}: ${devolucao.status}`);
    return one;
  }

  async function handle(req: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (req.method === "POST" && path === "/oauth/token") {
      const body = new URLSearchParams(await req.text());
      if (req.headers.get("authorization") !== basic)
        return Response.json({ error: "invalid_client" }, { status: 401 });
      if (!/^application\/x-www-form-urlencoded/.test(req.headers.get("content-type") ?? "")) {
        return Response.json({ error: "invalid_request" }, { status: 400 });
      }
      if (body.get("grant_type") !== "client_credentials") {
        return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
      }
      const token = crypto.randomUUID().replace(/-/g, "");
      tokens.set(token, Date.now() + ttl * 1000);
      issued++;
      return Response.json({ access_token: token, token_type: "Bearer", expires_in: ttl, scope: "pix.read pix.write" });
    }
    if (req.method === "POST" && path === "/simulator/pix") {
      const parsed = pixSchema.safeParse(await req.json().catch(() => null));
      if (!parsed.success) return problem(400, "RequisicaoInvalida", "not a Pix");
      sim.registerPix(parsed.data);
      return Response.json(parsed.data, { status: 201 });
    }

    const pixMatch = /^\/pix\/([^/]+)$/.exec(path);
    const devolucaoMatch = /^\/pix\/([^/]+)\/devolucao\/([^/]+)$/.exec(path);
    if (!pixMatch && !devolucaoMatch) return problem(404, "NaoEncontrado", "no such endpoint");
    if (!authorized(req)) return problem(401, "AcessoNegado", "missing or expired token");

    if (pixMatch) {
      if (req.method !== "GET") return problem(405, "RequisicaoInvalida");
      const one = pix.get(pixMatch[1]!);
      return one ? Response.json(one) : problem(404, "NaoEncontrado", "Pix not found");
    }
    const [, e2e, id] = devolucaoMatch!;
    if (!END_TO_END_ID.test(e2e!) || !DEVOLUCAO_ID.test(id!)) return problem(400, "RequisicaoInvalida", "bad path");
    const one = pix.get(e2e!);
    if (!one) return problem(404, "NaoEncontrado", "Pix not found");
    const existing = one.devolucoes?.find((d) => d.id === id);
    if (req.method === "GET") return existing ? Response.json(existing) : problem(404, "NaoEncontrado");
    if (req.method !== "PUT") return problem(405, "RequisicaoInvalida");

    const parsed = devolucaoSolicitadaSchema.safeParse(await req.json().catch(() => null));
    if (!parsed.success) return problem(400, "RequisicaoInvalida", "DevolucaoSolicitada inválida");
    // PUT is idempotent by id: the same devolução again answers what there is.
    if (existing) return Response.json(existing, { status: 201 });
    const asked = parsePixAmount(parsed.data.valor)!;
    const taken = (one.devolucoes ?? [])
      .filter((d) => d.status !== "NAO_REALIZADO")
      .reduce((sum, d) => sum + parsePixAmount(d.valor)!, 0);
    if (taken + asked > parsePixAmount(one.valor)!) {
      return problem(400, "RequisicaoInvalida", "valor da devolução excede o valor do Pix");
    }
    const devolucao: Devolucao = {
      id: id!,
      rtrId: `D99999999${Date.now()}${crypto.randomUUID().replace(/-/g, "")}`.slice(0, 32),
      valor: formatPixAmount(asked),
      natureza: parsed.data.natureza ?? "ORIGINAL",
      ...(parsed.data.descricao ? { descricao: parsed.data.descricao } : {}),
      horario: { solicitacao: new Date().toISOString() },
      status: "EM_PROCESSAMENTO",
    };
    one.devolucoes = [...(one.devolucoes ?? []), devolucao];
    log(`devolução ${id} of ${e2e}: ${formatPixAmount(asked)} EM_PROCESSAMENTO`);
    if (sim.putAnswer === "FINAL") {
      settle(e2e!, id!);
      return Response.json(devolucao, { status: 201 });
    }
    const answer = structuredClone(devolucao);
    const timer = setTimeout(() => {
      const settled = settle(e2e!, id!);
      if (settled) void callback(settled);
    }, settleDelay);
    pending.set(`${e2e}/${id}`, timer);
    return Response.json(answer, { status: 201 });
  }

  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: options.hostname ?? "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      const body = await req.clone().text();
      requests.push({ method: req.method, path: url.pathname, headers: Object.fromEntries(req.headers), body });
      const intercepted = await sim.intercept?.(req, url);
      if (intercepted) return intercepted;
      return handle(req, url);
    },
  });

  const sim: PspSimulator = {
    url: `http://${server.hostname}:${server.port}`,
    port: server.port!,
    requests,
    pix,
    tokensIssued: () => issued,
    revokeTokens: () => tokens.clear(),
    registerPix(one) {
      pix.set(one.endToEndId, structuredClone(one));
    },
    intercept: undefined,
    webhookUrl: options.webhookUrl,
    putAnswer: "EM_PROCESSAMENTO",
    callbacks: true,
    refundOutcome: options.refundOutcome ?? "DEVOLVIDO",
    callbacksMade: [],
    async settleAll() {
      const due = [...pending.keys()].map((key) => key.split("/") as [string, string]);
      await Promise.all(
        due.map(async ([e2e, id]) => {
          const settled = settle(e2e, id);
          if (settled) await callback(settled);
        }),
      );
    },
    async stop() {
      for (const timer of pending.values()) clearTimeout(timer);
      await server.stop(true);
    },
  };
  return sim;
}

if (import.meta.main) {
  const { DEV_SECRETS_FILE, loadDevSecrets } = await import("../src/config.ts");
  const port = Number(process.env.BANK_PSP_PORT || 3100);
  const service = (process.env.PAYMENTS_URL || `http://localhost:${process.env.PORT || 3000}`).replace(/\/+$/, "");
  const webhookSecret = process.env.WEBHOOK_SECRET || loadDevSecrets().webhook_secret;
  const webhookToken = process.env.PSP_WEBHOOK_TOKEN || undefined;
  if (!webhookSecret && !webhookToken) {
    console.error(
      `No WEBHOOK_SECRET (or PSP_WEBHOOK_TOKEN) set and no ${DEV_SECRETS_FILE}: start the service once, or set one.`,
    );
    process.exit(2);
  }
  const outcome = process.env.BANK_PSP_REFUND_OUTCOME === "NAO_REALIZADO" ? "NAO_REALIZADO" : "DEVOLVIDO";
  let sim: PspSimulator;
  try {
    sim = startPspSimulator({
      port,
      hostname: process.env.BANK_PSP_HOST || "127.0.0.1",
      clientId: process.env.PSP_CLIENT_ID || DEFAULT_CLIENT_ID,
      clientSecret: process.env.PSP_CLIENT_SECRET || DEFAULT_CLIENT_SECRET,
      webhookUrl: `${service}/webhooks`,
      webhookSecret,
      webhookToken,
      settleDelayMs: Number(process.env.BANK_PSP_SETTLE_MS || 1000),
      refundOutcome: outcome,
      log: (line) => console.log(line),
    });
  } catch (err) {
    console.error(`Could not listen on port ${port}: ${(err as Error).message} (set BANK_PSP_PORT)`);
    process.exit(1);
  }
  const stop = async () => {
    await sim.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  console.log("Start the service against it with:");
  console.log(
    `  PSP_API_URL=http://localhost:${sim.port} PSP_CLIENT_ID=${process.env.PSP_CLIENT_ID || DEFAULT_CLIENT_ID} ` +
      `PSP_CLIENT_SECRET=${process.env.PSP_CLIENT_SECRET || DEFAULT_CLIENT_SECRET} npm start`,
  );
  console.log(`Callbacks go to ${service}/webhooks/pix; devoluções settle ${outcome} after the delay.`);
  // Last, as the service does: whoever waits for this line may send SIGTERM at once.
  console.log(`Simulated PSP (API Pix) listening on http://localhost:${sim.port}`);
}
