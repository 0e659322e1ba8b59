import {
  type Psp,
  type PspPix,
  type PspRefund,
  PspRejectedError,
  PspUnavailableError,
  type RefundRequest,
} from "../payments/psp.ts";
import { formatPixAmount, parsePixAmount } from "../pix/amount.ts";
import { type Devolucao, devolucaoSchema, pixSchema, tokenResponseSchema } from "../pix/api-pix.ts";

export interface ApiPixClientOptions {
  /** PSP_API_URL: the base the API Pix paths (`/pix/{e2eid}`, …) and `/oauth/token` are appended to. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** PEM client certificate and key, for PSPs whose API Pix requires mTLS (PSP_CERT_FILE, PSP_KEY_FILE). */
  tls?: { cert: string; key: string };
  /** Time limit of every call, the token's included. */
  timeoutMs?: number;
  /** The clock the token's expiry is measured on. */
  now?: () => number;
  fetch?: (url: string, init: RequestInit & { tls?: { cert: string; key: string } }) => Promise<Response>;
}

/** A call to the PSP gives up after this long (and counts as the PSP being unavailable). */
export const PSP_TIMEOUT_MS = 10_000;
/** A token is renewed this long before the PSP says it expires, so none is sent just as it lapses. */
const TOKEN_MARGIN_MS = 30_000;

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** The RFC 7807 problem a PSP answers with (`title`, `detail`), as one short line. */
async function problemOf(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { title?: unknown; detail?: unknown };
    return [body.title, body.detail]
      .filter((s): s is string => typeof s === "string" && s !== "")
      .join(": ")
      .slice(0, 200);
  } catch {
    return "";
  }
}

function toRefund(d: Devolucao): PspRefund {
  return {
    id: d.id,
    rtrId: d.rtrId,
    amountCents: parsePixAmount(d.valor)!,
    status: d.status,
    reason: d.motivo ?? null,
  };
}

/**
 * The API Pix adapter of the PSP port: OAuth2 client credentials at `{PSP_API_URL}/oauth/token` (form-encoded
 * `grant_type=client_credentials`, HTTP Basic with the client id and secret), the token kept until shortly
 * before it expires and fetched again once when a call answers 401; an optional mTLS client certificate on
 * every call; a time limit on every call. A PSP that cannot be reached, times out, answers 5xx, 429 or 408,
 * or refuses our credentials is unavailable (try again later); another 4xx rejects the request itself.
 */
export function createApiPixClient(options: ApiPixClientOptions): Psp {
  const base = options.baseUrl.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? PSP_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? ((url, init) => fetch(url, init));
  const basic = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString("base64")}`;
  let token: { value: string; expiresAt: number } | null = null;
  let fetchingToken: Promise<string> | null = null;

  async function send(method: string, path: string, init: { headers: Record<string, string>; body?: string }) {
    try {
      return await doFetch(`${base}${path}`, {
        method,
        headers: init.headers,
        body: init.body,
        signal: AbortSignal.timeout(timeoutMs),
        ...(options.tls ? { tls: options.tls } : {}),
      });
    } catch (err) {
      throw new PspUnavailableError(`${method} ${path}: ${describe(err)}`, { cause: err });
    }
  }

  async function newToken(): Promise<string> {
    const res = await send("POST", "/oauth/token", {
      headers: {
        authorization: basic,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: new URLSearchParams({ grant_type: "client_credentials" }).toString(),
    });
    // Even a refusal of our credentials is "try again later": it is a configuration to fix, not a refund to fail.
    if (!res.ok) throw new PspUnavailableError(`POST /oauth/token answered ${res.status} ${await problemOf(res)}`);
    const parsed = tokenResponseSchema.safeParse(await res.json().catch(() => null));
    if (!parsed.success) throw new PspUnavailableError("POST /oauth/token answered without a bearer access_token");
    const lifetimeMs = (parsed.data.expires_in ?? 60) * 1000;
    token = {
      value: parsed.data.access_token,
      expiresAt: now() + Math.max(lifetimeMs / 2, lifetimeMs - TOKEN_MARGIN_MS),
    };
    return token.value;
  }

  /** The cached token, or one fetch of a new one shared by every call waiting for it. */
  function accessToken(): Promise<string> {
    if (token && now() < token.expiresAt) return Promise.resolve(token.value);
    fetchingToken ??= newToken().finally(() => {
      fetchingToken = null;
    });
    return fetchingToken;
  }

  /** A call with the bearer token; on 401 the token is dropped and the call made once more with a new one. */
  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const bearer = await accessToken();
      const res = await send(method, path, {
        headers: {
          authorization: `Bearer ${bearer}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status !== 401 || attempt > 1) return res;
      await res.body?.cancel();
      if (token?.value === bearer) token = null;
    }
  }

  /** Turns a non-2xx answer into the port's errors; 404 is for the caller to read as "none". */
  async function failure(method: string, path: string, res: Response): Promise<never> {
    const detail = await problemOf(res);
    if (res.status >= 500 || res.status === 429 || res.status === 408 || res.status === 401) {
      throw new PspUnavailableError(`${method} ${path} answered ${res.status}${detail ? ` ${detail}` : ""}`);
    }
    throw new PspRejectedError(res.status, detail);
  }

  async function devolucao(method: string, path: string, res: Response): Promise<PspRefund> {
    const parsed = devolucaoSchema.safeParse(await res.json().catch(() => null));
    if (!parsed.success) throw new PspUnavailableError(`${method} ${path} answered a body that is not a Devolucao`);
    return toRefund(parsed.data);
  }

  return {
    refundsNeedEndToEndId: true,

    async getPix(endToEndId: string): Promise<PspPix | null> {
      const path = `/pix/${encodeURIComponent(endToEndId)}`;
      const res = await call("GET", path);
      if (res.status === 404) return null;
      if (!res.ok) return failure("GET", path, res);
      const parsed = pixSchema.safeParse(await res.json().catch(() => null));
      if (!parsed.success) throw new PspUnavailableError(`GET ${path} answered a body that is not a Pix`);
      const pix = parsed.data;
      return {
        endToEndId: pix.endToEndId,
        txid: pix.txid ?? null,
        amountCents: parsePixAmount(pix.valor)!,
        at: Date.parse(pix.horario),
        payerInfo: pix.infoPagador ?? null,
        refunds: (pix.devolucoes ?? []).map(toRefund),
      };
    },

    async requestRefund(request: RefundRequest): Promise<PspRefund> {
      if (request.endToEndId === null) throw new PspRejectedError(400, "A devolução needs the Pix's endToEndId");
      const path = `/pix/${encodeURIComponent(request.endToEndId)}/devolucao/${encodeURIComponent(request.refundId)}`;
      const res = await call("PUT", path, {
        valor: formatPixAmount(request.amountCents),
        natureza: request.nature,
        ...(request.description === null ? {} : { descricao: request.description }),
      });
      if (!res.ok) return failure("PUT", path, res);
      return devolucao("PUT", path, res);
    },

    async getRefund(endToEndId: string | null, refundId: string): Promise<PspRefund | null> {
      if (endToEndId === null) return null;
      const path = `/pix/${encodeURIComponent(endToEndId)}/devolucao/${encodeURIComponent(refundId)}`;
      const res = await call("GET", path);
      if (res.status === 404) return null;
      if (!res.ok) return failure("GET", path, res);
      return devolucao("GET", path, res);
    },
  };
}
