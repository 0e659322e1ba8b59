import { randomBytes } from "node:crypto";
import type { Clock, Ids } from "../clock.ts";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../webhooks/events.ts";
import type { SecretBox } from "../webhooks/secret-box.ts";
import { SECRET_PREFIX, secretKey, signatureHeaders } from "../webhooks/standard-webhooks.ts";
import { coalesced } from "./coalesce.ts";
import {
  DeliveryNotFound,
  InvalidEventType,
  InvalidQuery,
  InvalidWebhookUrl,
  TooManyWebhookEndpoints,
  WebhookEndpointNotFound,
} from "./errors.ts";
import type { PaymentRepository } from "./repository.ts";
import { decodeCursor, encodeCursor } from "./service.ts";
import type { DeliveryRecord, DeliveryWork, WebhookEndpointRecord } from "./webhook-repository.ts";

/** CONTRACT §2: seconds before each attempt; the first is the first attempt. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];
/** How long the secret before a rotation keeps signing (both signatures are sent meanwhile). */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;
/** Most endpoints a deployment may register: every event is written once per endpoint. */
export const MAX_WEBHOOK_ENDPOINTS = 100;
/** How long a dispatcher holds a claimed delivery: well above an attempt's 10 s timeout and a wait for a slot. */
export const DELIVERY_LEASE_MS = 60_000;
/** The delivery log's page size, unless `limit` says. */
export const DEFAULT_DELIVERY_PAGE = 20;
export const MAX_DELIVERY_PAGE = 100;

/** What sending one delivery came to (the HTTP adapter, src/outbound/sender.ts). */
export type SendOutcome =
  | { ok: true; status: number; durationMs: number }
  | { ok: false; status: number | null; error: string; retryAfterMs: number | null; gone: boolean; durationMs: number };

/** The port that POSTs a delivery to the merchant's URL. */
export interface WebhookTransport {
  send(request: { url: string; headers: Record<string, string>; body: string }): Promise<SendOutcome>;
}

/** The port that decides whether a URL may be called (https, no private addresses; src/outbound/url-guard.ts). */
export interface UrlGuard {
  /** Null when allowed, else why not. Resolves the host, so it is asked again before every attempt. */
  check(url: string): Promise<string | null>;
}

/** How an attempt ended, for metrics. */
export type AttemptResult = "delivered" | "retry" | "failed" | "disabled";

export interface MerchantWebhooksDeps {
  repo: PaymentRepository;
  clock: Clock;
  ids: Ids;
  secretBox: SecretBox;
  guard: UrlGuard;
  transport: WebhookTransport;
  /** Milliseconds before each attempt (WEBHOOK_RETRY_SCHEDULE). */
  retryScheduleMs: number[];
  /** How long delivered deliveries (and then their events) are kept. */
  retentionMs: number;
  /** Concurrent attempts on this instance, and to one endpoint from this instance. */
  concurrency: { total: number; perEndpoint: number };
  /** A number in [0, 1) for the retry jitter (tests fix it). */
  random?: () => number;
  /** A new signing secret (`whsec_…`). */
  newSecret?: () => string;
  onAttempt?: (
    result: AttemptResult,
    endpointId: string,
    outcome: { status: number | null; error: string | null },
  ) => void;
  onError?: (err: unknown) => void;
}

/** The wait before the attempt after `attempts` failed ones: the schedule's, jittered by up to +10 %. */
export function retryDelayMs(scheduleMs: number[], attempts: number, random: number, retryAfterMs: number | null) {
  const planned = scheduleMs[attempts] ?? 0;
  const jittered = planned + Math.floor(planned * 0.1 * random);
  if (retryAfterMs === null) return jittered;
  // Retry-After (429, 503) is honoured, within the schedule: never sooner than asked, never later than its longest wait.
  return Math.min(Math.max(jittered, retryAfterMs), Math.max(...scheduleMs));
}

const newId = (ids: Ids, prefix: string) => `${prefix}_${ids.uuid().replace(/-/g, "")}`;

/**
 * Merchant webhooks (CONTRACT §10): the endpoints API and the dispatcher. Events and their deliveries are
 * written by the changes themselves (webhook-events.ts); the dispatcher on every instance claims due
 * deliveries with a lease, signs and sends each once per attempt, and records the outcome under the lease,
 * so with several instances each attempt is made by one. A lease left by a dead instance runs out and the
 * delivery is claimed again: at least once, never lost.
 */
export function createMerchantWebhooks(deps: MerchantWebhooksDeps) {
  const { repo, clock, ids, secretBox, guard, transport } = deps;
  const random = deps.random ?? Math.random;
  const newSecret = deps.newSecret ?? (() => `${SECRET_PREFIX}${randomBytes(24).toString("base64")}`);
  const onError = deps.onError ?? ((err: unknown) => console.error(err));
  const schedule = deps.retryScheduleMs;

  async function endpointOrThrow(id: string): Promise<WebhookEndpointRecord> {
    const endpoint = await repo.findWebhookEndpoint(id);
    if (!endpoint) throw WebhookEndpointNotFound();
    return endpoint;
  }

  // ------------------------------------------------------------------------------------------ dispatcher
  let inFlight = 0;
  const perEndpoint = new Map<string, number>();
  const attempts = new Set<Promise<void>>();
  let stopped = false;

  const describe = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200);

  /**
   * Opened signing keys by sealed value: unsealing (AES-GCM) on every attempt cost more than signing. Bounded:
   * at most two secrets per endpoint are live, so a full map is stale values and is dropped.
   */
  const openedKeys = new Map<string, Uint8Array>();
  const openKey = (sealed: string, endpointId: string): Uint8Array => {
    // By endpoint too: a sealed value opens only for the endpoint it was sealed for.
    const cacheKey = `${endpointId} ${sealed}`;
    let key = openedKeys.get(cacheKey);
    if (!key) {
      key = secretKey(secretBox.open(sealed, endpointId));
      if (openedKeys.size >= 2 * MAX_WEBHOOK_ENDPOINTS) openedKeys.clear();
      openedKeys.set(cacheKey, key);
    }
    return key;
  };

  /** The keys that sign now: the current secret, and the one before a rotation for 24 h. */
  function signingKeys(endpoint: WebhookEndpointRecord, now: number): Uint8Array[] {
    const keys = [openKey(endpoint.sealedSecret, endpoint.id)];
    if (endpoint.sealedPreviousSecret && (endpoint.previousSecretUntil ?? 0) > now) {
      keys.push(openKey(endpoint.sealedPreviousSecret, endpoint.id));
    }
    return keys;
  }

  async function attempt(work: DeliveryWork, token: string): Promise<void> {
    const { endpoint } = work;
    let outcome: SendOutcome;
    const refused = await guard.check(endpoint.url).catch((err: unknown) => describe(err));
    if (refused !== null) {
      outcome = {
        ok: false,
        status: null,
        error: `Refused: ${refused}`,
        retryAfterMs: null,
        gone: false,
        durationMs: 0,
      };
    } else {
      let keys: Uint8Array[] | null = null;
      try {
        keys = signingKeys(endpoint, clock.now());
      } catch (err) {
        outcome = {
          ok: false,
          status: null,
          error: `Cannot read the endpoint's secret: ${describe(err)}`,
          retryAfterMs: null,
          gone: false,
          durationMs: 0,
        };
      }
      if (keys) {
        const headers = signatureHeaders(keys, work.eventId, Math.floor(clock.now() / 1000), work.payload);
        outcome = await transport.send({ url: endpoint.url, headers, body: work.payload });
      }
    }
    outcome = outcome!;
    const at = clock.now();
    const tries = work.attempts + 1;
    const base = { id: work.id, token, attempts: tries, statusCode: outcome.status, at };
    let result: AttemptResult;
    if (outcome.ok) {
      result = "delivered";
      await repo.write((tx) =>
        tx.recordDeliveryAttempt({ ...base, status: "delivered", error: null, nextAttemptAt: null }),
      );
    } else if (outcome.gone) {
      result = "disabled";
      const error = "410 Gone: endpoint disabled";
      await repo.write(function* (tx) {
        yield* tx.recordDeliveryAttempt({ ...base, status: "failed", error, nextAttemptAt: null });
        yield* tx.disableWebhookEndpoint(endpoint.id, error, at);
      });
    } else if (tries >= schedule.length) {
      result = "failed";
      await repo.write((tx) =>
        tx.recordDeliveryAttempt({ ...base, status: "failed", error: outcome.error, nextAttemptAt: null }),
      );
    } else {
      result = "retry";
      const next = at + retryDelayMs(schedule, tries, random(), outcome.retryAfterMs);
      await repo.write((tx) =>
        tx.recordDeliveryAttempt({ ...base, status: "pending", error: outcome.error, nextAttemptAt: next }),
      );
    }
    deps.onAttempt?.(result, endpoint.id, { status: outcome.status, error: outcome.ok ? null : outcome.error });
  }

  function start(work: DeliveryWork, token: string) {
    const endpointId = work.endpoint.id;
    inFlight++;
    perEndpoint.set(endpointId, (perEndpoint.get(endpointId) ?? 0) + 1);
    const running = attempt(work, token)
      .catch(onError)
      .finally(() => {
        inFlight--;
        const left = (perEndpoint.get(endpointId) ?? 1) - 1;
        if (left === 0) perEndpoint.delete(endpointId);
        else perEndpoint.set(endpointId, left);
        attempts.delete(running);
        // Claims are batched: a finished attempt claims again once half of the slots are free (or none is
        // busy), so a claim's fixed cost is shared by several deliveries rather than paid for each.
        const free = deps.concurrency.total - inFlight;
        if (inFlight === 0 || free >= Math.max(1, Math.floor(deps.concurrency.total / 2))) kick();
      });
    attempts.add(running);
  }

  /** One claim: as many due deliveries as there are free slots. Returns how many it claimed. */
  async function pass(): Promise<number> {
    const free = deps.concurrency.total - inFlight;
    if (free <= 0 || stopped) return 0;
    const now = clock.now();
    if (!(await repo.hasDueDeliveries(now))) return 0;
    const token = ids.uuid();
    const claimed = await repo.write((tx) =>
      tx.claimDeliveries({
        now,
        leaseUntil: now + DELIVERY_LEASE_MS,
        token,
        limit: free,
        perEndpoint: deps.concurrency.perEndpoint,
        // Each endpoint gets what its bound leaves after the attempts in flight here.
        inFlight: Object.fromEntries(perEndpoint),
        candidates: Math.max(64, free * deps.concurrency.perEndpoint),
      }),
    );
    if (claimed.length === 0) return 0;
    for (const work of await repo.deliveryWork(claimed)) start(work, token);
    return claimed.length;
  }

  const passes = coalesced(async () => void (await pass()), onError);
  const drain = passes.run;

  function kick() {
    if (!stopped) void drain();
  }

  // ---------------------------------------------------------------------------------------------- API
  return {
    /** Registers an endpoint; the secret is returned here only. */
    async create(input: {
      url: string;
      events?: string[];
      description?: string | null;
    }): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
      const events = [...new Set(input.events ?? [])];
      if (!events.every((e): e is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(e))) {
        throw InvalidEventType();
      }
      if ((await guard.check(input.url)) !== null) throw InvalidWebhookUrl();
      if ((await repo.countWebhookEndpoints()) >= MAX_WEBHOOK_ENDPOINTS) {
        throw TooManyWebhookEndpoints(MAX_WEBHOOK_ENDPOINTS);
      }
      const id = newId(ids, "we");
      const secret = newSecret();
      const endpoint = await repo.write((tx) =>
        tx.insertWebhookEndpoint({
          id,
          url: input.url,
          events,
          description: input.description ?? null,
          sealedSecret: secretBox.seal(secret, id),
          createdAt: clock.now(),
        }),
      );
      return { endpoint, secret };
    },

    list: (): Promise<WebhookEndpointRecord[]> => repo.listWebhookEndpoints(),

    get: endpointOrThrow,

    async delete(id: string): Promise<void> {
      if (!(await repo.write((tx) => tx.deleteWebhookEndpoint(id)))) throw WebhookEndpointNotFound();
    },

    /** A new secret; deliveries carry signatures of both for ROTATION_OVERLAP_MS. */
    async rotateSecret(id: string): Promise<{ secret: string }> {
      const endpoint = await endpointOrThrow(id);
      const secret = newSecret();
      const rotated = await repo.write((tx) =>
        tx.rotateWebhookSecret(id, {
          sealedSecret: secretBox.seal(secret, id),
          sealedPreviousSecret: endpoint.sealedSecret,
          previousUntil: clock.now() + ROTATION_OVERLAP_MS,
        }),
      );
      if (!rotated) throw WebhookEndpointNotFound();
      return { secret };
    },

    /** An endpoint's deliveries, newest first, in pages with an opaque cursor. */
    async deliveries(
      endpointId: string,
      input: { limit?: number; cursor?: string },
    ): Promise<{ deliveries: DeliveryRecord[]; nextCursor: string | null }> {
      const limit = input.limit ?? DEFAULT_DELIVERY_PAGE;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DELIVERY_PAGE) throw InvalidQuery("Invalid limit");
      const before = input.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(input.cursor, "d");
      await endpointOrThrow(endpointId);
      const rows = await repo.listDeliveries(endpointId, { before, limit: limit + 1 });
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      return { deliveries: page, nextCursor: more ? encodeCursor(page[page.length - 1]!.seq, "d") : null };
    },

    /**
     * Attempts a delivery again at once, whatever its status (a failed one gets one more attempt). It enables
     * the endpoint again if a 410 had disabled it: retrying by hand says the receiver is back.
     */
    async retry(endpointId: string, deliveryId: string): Promise<DeliveryRecord> {
      await endpointOrThrow(endpointId);
      const delivery = await repo.write((tx) => tx.retryDelivery(endpointId, deliveryId, clock.now()));
      if (!delivery) throw DeliveryNotFound();
      kick();
      return delivery;
    },

    /** Forgets delivered deliveries, and then their events, older than the retention period. */
    prune(): Promise<void> {
      const before = clock.now() - deps.retentionMs;
      return repo.write((tx) => tx.pruneWebhooks(before));
    },

    /** Pending deliveries and the age of the oldest due one (for metrics). */
    async queue(): Promise<{ pending: number; oldestDueAgeSeconds: number }> {
      const now = clock.now();
      const q = await repo.deliveryQueue(now);
      return { pending: q.pending, oldestDueAgeSeconds: q.oldestDueAt === null ? 0 : (now - q.oldestDueAt) / 1000 };
    },

    /** Claims what is due (after a commit that queued deliveries, and on a timer). */
    kick,
    drain,
    /** Resolves when no claim and no attempt is under way. */
    async idle(): Promise<void> {
      while (passes.running() || attempts.size > 0) await Promise.all([passes.running(), ...attempts]);
    },
    /** No more claims (shutdown); attempts under way finish. */
    stop() {
      stopped = true;
    },
    inFlight: () => inFlight,
  };
}

export type MerchantWebhooks = ReturnType<typeof createMerchantWebhooks>;
