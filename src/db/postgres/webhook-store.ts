import type { SQL } from "bun";
import type {
  DeliveryRecord,
  DeliveryWork,
  WebhookEndpointRecord,
  WebhookReads,
  WebhookWrites,
} from "../../payments/webhook-repository.ts";
import type { WebhookEventType } from "../../webhooks/events.ts";
import { final, query, type Runner } from "./steps.ts";

interface RawEndpointRow {
  id: string;
  url: string;
  events: string;
  description: string | null;
  enabled: boolean;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: string | null;
  created_at: string;
}

interface RawDeliveryRow {
  seq: string;
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: WebhookEventType;
  status: DeliveryRecord["status"];
  attempts: string;
  last_status_code: string | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

const num = (v: string | number | null) => (v === null ? null : Number(v));

const toEndpoint = (r: RawEndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  url: r.url,
  events: JSON.parse(r.events) as WebhookEventType[],
  description: r.description,
  enabled: r.enabled,
  sealedSecret: r.secret,
  sealedPreviousSecret: r.previous_secret,
  previousSecretUntil: num(r.previous_secret_until),
  createdAt: Number(r.created_at),
});

const toDelivery = (r: RawDeliveryRow): DeliveryRecord => ({
  seq: Number(r.seq),
  id: r.id,
  endpointId: r.endpoint_id,
  eventId: r.event_id,
  eventType: r.event_type,
  status: r.status,
  attempts: Number(r.attempts),
  lastStatusCode: num(r.last_status_code),
  lastError: r.last_error,
  nextAttemptAt: num(r.next_attempt_at),
  createdAt: Number(r.created_at),
  deliveredAt: num(r.delivered_at),
});

/** Endpoints an event of the type `type` (an SQL text expression) goes to (a JSON array; `[]` takes all). */
const matching = (type: string, alias = "webhook_endpoints") =>
  `${alias}.enabled AND (${alias}.events = '[]' OR strpos(${alias}.events, '"' || ${type} || '"') > 0)`;

/**
 * The outbox's part of a statement, as two CTEs: `ev` records the event when some enabled endpoint takes its
 * type, and `queued` one pending delivery per such endpoint (the statement counts `queued` for how many). The
 * fields are SQL expressions; with `from` (a CTE of the same statement, such as the row a write changed) the
 * event is recorded only when that CTE has a row, and its expressions may use the row's columns.
 */
export function outboxCtes(e: {
  id: string;
  type: string;
  payload: string;
  createdAt: string;
  dueAt: string;
  from?: string;
}): string {
  const type = `${e.type}::text`;
  return `ev AS (
      INSERT INTO webhook_events (id, type, payload, created_at)
      SELECT ${e.id}, ${type}, ${e.payload}, ${e.createdAt}${e.from ? ` FROM ${e.from}` : ""}
      WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE ${matching(type)})
      RETURNING id, created_at
    ), queued AS (
      INSERT INTO endpoint_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
      SELECT 'wd_' || substr(ev.id, 5) || '_' || e.seq, e.id, ev.id, 'pending', 0, ${e.dueAt}, ev.created_at
      FROM webhook_endpoints e, ev WHERE ${matching(type, "e")}
      RETURNING 1
    )`;
}
/** The delivery's endpoint is disabled (inside an UPDATE of endpoint_deliveries). */
const DISABLED =
  "NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = endpoint_deliveries.endpoint_id AND e.enabled)";
const ENDPOINT_COLUMNS =
  "id, url, events, description, enabled, secret, previous_secret, previous_secret_until, created_at";
const DELIVERY_COLUMNS =
  "d.seq, d.id, d.endpoint_id, d.event_id, ev.type AS event_type, d.status, d.attempts, d.last_status_code, " +
  "d.last_error, d.next_attempt_at, d.created_at, d.delivered_at";

/**
 * The PostgreSQL half of the merchant-webhook outbox. An event and its deliveries are one statement (a CTE),
 * and a claim takes due rows FOR UPDATE SKIP LOCKED, so instances claiming at once never take the same row.
 */
export function createPostgresWebhookStore(pool: SQL): {
  writes: WebhookWrites;
  reads: WebhookReads;
} {
  const rows = <T>(runner: Runner, text: string, params: unknown[]) => runner.unsafe(text, params) as Promise<T[]>;

  const recordEvent = `WITH ${outboxCtes({ id: "$1", type: "$2", payload: "$3", createdAt: "$4", dueAt: "$5" })}
    SELECT count(*) AS n FROM queued`;

  // The oldest due deliveries first (the due index, in order), then at most the endpoint's share of each: the
  // window function runs over the candidates, never over the whole backlog.
  const claim = `
    WITH flying AS (
      SELECT * FROM unnest(string_to_array($4::text, ','), string_to_array($5::text, ',')::int[]) AS f(endpoint_id, n)
    ), candidates AS (
      SELECT d.seq, d.endpoint_id, d.next_attempt_at FROM endpoint_deliveries d
      JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND d.lease_until <= $1 AND e.enabled
        AND NOT EXISTS (SELECT 1 FROM flying f WHERE f.endpoint_id = d.endpoint_id AND f.n >= $6)
      ORDER BY d.next_attempt_at, d.seq
      LIMIT $7
      FOR UPDATE OF d SKIP LOCKED
    ), picked AS (
      SELECT r.seq FROM (
        SELECT c.seq, c.next_attempt_at, c.endpoint_id,
               row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.seq) AS rank
        FROM candidates c
      ) r LEFT JOIN flying f ON f.endpoint_id = r.endpoint_id
      WHERE r.rank <= $6 - coalesce(f.n, 0)
      ORDER BY r.next_attempt_at, r.seq LIMIT $8
    )
    UPDATE endpoint_deliveries SET lease_until = $2, lease_token = $3
    FROM picked WHERE endpoint_deliveries.seq = picked.seq
    RETURNING endpoint_deliveries.id`;

  const writes: WebhookWrites = {
    recordWebhookEvent: (e) =>
      query(async (tx) => {
        const [r] = await rows<{ n: string }>(tx, recordEvent, [e.id, e.type, e.payload, e.createdAt, e.dueAt]);
        return Number(r?.n ?? 0);
      }),
    insertWebhookEndpoint: (e) =>
      query(async (tx) => {
        const [r] = await rows<RawEndpointRow>(
          tx,
          `INSERT INTO webhook_endpoints (id, url, events, description, enabled, secret, created_at)
           VALUES ($1, $2, $3, $4, true, $5, $6) RETURNING ${ENDPOINT_COLUMNS}`,
          [e.id, e.url, JSON.stringify(e.events), e.description, e.sealedSecret, e.createdAt],
        );
        return toEndpoint(r!);
      }),
    deleteWebhookEndpoint: (id) =>
      query(async (tx) => {
        await rows(tx, "DELETE FROM endpoint_deliveries WHERE endpoint_id = $1", [id]);
        return (await rows(tx, "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id", [id])).length === 1;
      }),
    rotateWebhookSecret: (id, s) =>
      query(async (tx) => {
        const [r] = await rows<RawEndpointRow>(
          tx,
          `UPDATE webhook_endpoints SET secret = $2, previous_secret = $3, previous_secret_until = $4
           WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
          [id, s.sealedSecret, s.sealedPreviousSecret, s.previousUntil],
        );
        return r && toEndpoint(r);
      }),
    disableWebhookEndpoint: (id, error, at) =>
      query(async (tx) => {
        await rows(tx, "UPDATE webhook_endpoints SET enabled = false WHERE id = $1", [id]);
        await rows(
          tx,
          `UPDATE endpoint_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2
           WHERE endpoint_id = $1 AND status = 'pending' AND lease_until <= $3`,
          [id, error, at],
        );
      }),
    // The claim is its write's one statement: it runs by itself, without a transaction around it.
    claimDeliveries: (c) =>
      final(
        async (tx) => {
          const flying = Object.entries(c.inFlight);
          const claimed = await rows<{ id: string }>(tx, claim, [
            c.now,
            c.leaseUntil,
            c.token,
            flying.map(([id]) => id).join(","), // ids are letters, digits and _
            flying.map(([, n]) => n).join(","),
            c.perEndpoint,
            c.candidates,
            c.limit,
          ]);
          return claimed.map((r) => r.id);
        },
        (claimed) => claimed.length > 0,
      ),
    recordDeliveryAttempt: (o) =>
      query(async (tx) => {
        const updated = await rows(
          tx,
          // A retry for an endpoint disabled meanwhile (a 410 seen by another attempt) ends failed, not pending.
          `UPDATE endpoint_deliveries SET
             status = CASE WHEN $3 = 'pending' AND ${DISABLED} THEN 'failed' ELSE $3 END,
             next_attempt_at = CASE WHEN ${DISABLED} THEN NULL ELSE $7::bigint END,
             attempts = $4, last_status_code = $5, last_error = $6, lease_until = 0, lease_token = NULL,
             delivered_at = CASE WHEN $3 = 'delivered' THEN $8 ELSE delivered_at END
           WHERE id = $1 AND lease_token = $2 RETURNING id`,
          [o.id, o.token, o.status, o.attempts, o.statusCode, o.error, o.nextAttemptAt, o.at],
        );
        return updated.length === 1;
      }),
    retryDelivery: (endpointId, deliveryId, now) =>
      query(async (tx) => {
        const changed = await rows(
          tx,
          `UPDATE endpoint_deliveries SET status = 'pending', next_attempt_at = $3
           WHERE id = $2 AND endpoint_id = $1 RETURNING id`,
          [endpointId, deliveryId, now],
        );
        if (changed.length === 0) return undefined;
        await rows(tx, "UPDATE webhook_endpoints SET enabled = true WHERE id = $1", [endpointId]);
        const [r] = await rows<RawDeliveryRow>(
          tx,
          `SELECT ${DELIVERY_COLUMNS} FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           WHERE d.id = $1`,
          [deliveryId],
        );
        return toDelivery(r!);
      }),
    pruneWebhooks: (before) =>
      query(async (tx) => {
        await rows(tx, "DELETE FROM endpoint_deliveries WHERE status = 'delivered' AND delivered_at < $1", [before]);
        await rows(
          tx,
          `DELETE FROM webhook_events ev WHERE ev.created_at < $1
           AND NOT EXISTS (SELECT 1 FROM endpoint_deliveries d WHERE d.event_id = ev.id)`,
          [before],
        );
      }),
  };

  const reads: WebhookReads = {
    listWebhookEndpoints: async () =>
      (await rows<RawEndpointRow>(pool, `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY seq`, [])).map(
        toEndpoint,
      ),
    findWebhookEndpoint: async (id) => {
      const [r] = await rows<RawEndpointRow>(pool, `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1`, [
        id,
      ]);
      return r && toEndpoint(r);
    },
    countWebhookEndpoints: async () =>
      Number((await rows<{ n: string }>(pool, "SELECT count(*) AS n FROM webhook_endpoints", []))[0]!.n),
    listDeliveries: async (endpointId, page) =>
      (
        await rows<RawDeliveryRow>(
          pool,
          `SELECT ${DELIVERY_COLUMNS} FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           WHERE d.endpoint_id = $1 AND d.seq < $2 ORDER BY d.seq DESC LIMIT $3`,
          [endpointId, page.before, page.limit],
        )
      ).map(toDelivery),
    deliveryWork: async (ids) => {
      const found = await rows<
        RawEndpointRow & {
          delivery_id: string;
          attempts: string;
          event_id: string;
          event_type: WebhookEventType;
          payload: string;
        }
      >(
        pool,
        `SELECT d.id AS delivery_id, d.attempts, d.event_id, ev.type AS event_type, ev.payload,
                e.id, e.url, e.events, e.description, e.enabled, e.secret, e.previous_secret,
                e.previous_secret_until, e.created_at
         FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.id = ANY (string_to_array($1::text, ','))`,
        [ids.join(",")],
      );
      return found.map(
        (r): DeliveryWork => ({
          id: r.delivery_id,
          attempts: Number(r.attempts),
          eventId: r.event_id,
          eventType: r.event_type,
          payload: r.payload,
          endpoint: toEndpoint(r),
        }),
      );
    },
    hasDueDeliveries: async (now) =>
      (
        await rows(
          pool,
          `SELECT 1 FROM endpoint_deliveries WHERE next_attempt_at <= $1 AND status = 'pending'
           AND lease_until <= $1 LIMIT 1`,
          [now],
        )
      ).length > 0,
    deliveryQueue: async (now) => {
      const [r] = await rows<{ pending: string; oldest: string | null }>(
        pool,
        `SELECT count(*) AS pending, min(next_attempt_at) FILTER (WHERE next_attempt_at <= $1) AS oldest
         FROM endpoint_deliveries WHERE status = 'pending'`,
        [now],
      );
      return { pending: Number(r!.pending), oldestDueAt: num(r!.oldest) };
    },
  };
  return { writes, reads };
}
