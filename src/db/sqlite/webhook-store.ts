import type { Statement } from "bun:sqlite";
import type {
  DeliveryRecord,
  DeliveryWork,
  WebhookEndpointRecord,
  WebhookReads,
  WebhookWrites,
} from "../../payments/webhook-repository.ts";
import type { WebhookEventType } from "../../webhooks/events.ts";
import type { Db } from "./client.ts";
import { done } from "./steps.ts";

interface RawEndpointRow {
  id: string;
  url: string;
  events: string;
  description: string | null;
  enabled: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: number | null;
  created_at: number;
}

interface RawDeliveryRow {
  seq: number;
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: WebhookEventType;
  status: DeliveryRecord["status"];
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: number | null;
  created_at: number;
  delivered_at: number | null;
}

const toEndpoint = (r: RawEndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  url: r.url,
  events: JSON.parse(r.events) as WebhookEventType[],
  description: r.description,
  enabled: r.enabled === 1,
  sealedSecret: r.secret,
  sealedPreviousSecret: r.previous_secret,
  previousSecretUntil: r.previous_secret_until,
  createdAt: r.created_at,
});

const toDelivery = (r: RawDeliveryRow): DeliveryRecord => ({
  seq: r.seq,
  id: r.id,
  endpointId: r.endpoint_id,
  eventId: r.event_id,
  eventType: r.event_type,
  status: r.status,
  attempts: r.attempts,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  nextAttemptAt: r.next_attempt_at,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
});

/** Endpoints an event of type `$type` goes to (the filter is a JSON array; `[]` takes every type). */
const MATCHING = `enabled = 1 AND (events = '[]' OR instr(events, '"' || $type || '"') > 0)`;
/** The delivery's endpoint is disabled (inside an UPDATE of endpoint_deliveries). */
const DISABLED =
  "NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = endpoint_deliveries.endpoint_id AND e.enabled = 1)";
const ENDPOINT_COLUMNS =
  "id, url, events, description, enabled, secret, previous_secret, previous_secret_until, created_at";
const DELIVERY_COLUMNS =
  "d.seq, d.id, d.endpoint_id, d.event_id, ev.type AS event_type, d.status, d.attempts, d.last_status_code, " +
  "d.last_error, d.next_attempt_at, d.created_at, d.delivered_at";

/**
 * The SQLite half of the merchant-webhook outbox: its steps run inside the payment repository's group-committed
 * writes (BEGIN IMMEDIATE holds the write lock, so a claim is never interleaved with another connection's).
 */
export function createSqliteWebhookStore(db: Db): { writes: WebhookWrites; reads: WebhookReads } {
  const prepared = new Map<string, Statement>();
  const q = (text: string): Statement => {
    let stmt = prepared.get(text);
    if (!stmt) {
      stmt = db.$client.prepare(text);
      prepared.set(text, stmt);
    }
    return stmt;
  };

  const insertEvent = q(
    `INSERT INTO webhook_events (id, type, payload, created_at) SELECT $id, $type, $payload, $at
     WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE ${MATCHING})`,
  );
  // A delivery's id is its event's (time first) and its endpoint's number: unique, and growing with time.
  const insertDeliveries = q(
    `INSERT INTO endpoint_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
     SELECT 'wd_' || substr($id, 5) || '_' || seq, id, $id, 'pending', 0, $due, $at FROM webhook_endpoints
     WHERE ${MATCHING} ORDER BY seq`,
  );
  // The oldest due deliveries first (the due index, in order), then at most the endpoint's share of each: the
  // window function runs over `candidates` rows, never over the whole backlog.
  const claim = q(
    `UPDATE endpoint_deliveries SET lease_until = $leaseUntil, lease_token = $token
     WHERE seq IN (
       SELECT r.seq FROM (
         SELECT c.seq, c.due, c.endpoint_id,
                row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.due, c.seq) AS rank
         FROM (
           SELECT d.seq, d.endpoint_id, d.next_attempt_at AS due
           FROM endpoint_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
           WHERE d.next_attempt_at <= $now AND d.status = 'pending' AND d.lease_until <= $now AND e.enabled = 1
             AND d.endpoint_id NOT IN (SELECT key FROM json_each($inFlight) WHERE value >= $perEndpoint)
           ORDER BY d.next_attempt_at, d.seq LIMIT $candidates
         ) c
       ) r LEFT JOIN json_each($inFlight) f ON f.key = r.endpoint_id
       WHERE r.rank <= $perEndpoint - coalesce(f.value, 0)
       ORDER BY r.due, r.seq LIMIT $limit
     ) RETURNING id`,
  );
  const endpointById = q(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $id`);
  const deliveryOf = q(
    `SELECT ${DELIVERY_COLUMNS} FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
     WHERE d.id = $id AND d.endpoint_id = $endpointId`,
  );

  const writes: WebhookWrites = {
    recordWebhookEvent: (e) => {
      const values = { id: e.id, type: e.type, payload: e.payload, at: e.createdAt };
      if (insertEvent.run(values).changes === 0) return done(0);
      return done(insertDeliveries.run({ id: e.id, type: e.type, due: e.dueAt, at: e.createdAt }).changes);
    },
    insertWebhookEndpoint: (e) => {
      const row = q(
        `INSERT INTO webhook_endpoints (id, url, events, description, enabled, secret, created_at)
         VALUES ($id, $url, $events, $description, 1, $secret, $at) RETURNING ${ENDPOINT_COLUMNS}`,
      ).all({
        id: e.id,
        url: e.url,
        events: JSON.stringify(e.events),
        description: e.description,
        secret: e.sealedSecret,
        at: e.createdAt,
      })[0] as RawEndpointRow;
      return done(toEndpoint(row));
    },
    deleteWebhookEndpoint: (id) => {
      q("DELETE FROM endpoint_deliveries WHERE endpoint_id = $id").run({ id: id });
      return done(q("DELETE FROM webhook_endpoints WHERE id = $id").run({ id: id }).changes === 1);
    },
    rotateWebhookSecret: (id, s) => {
      const row = q(
        `UPDATE webhook_endpoints SET secret = $secret, previous_secret = $previous, previous_secret_until = $until
         WHERE id = $id RETURNING ${ENDPOINT_COLUMNS}`,
      ).all({ id: id, secret: s.sealedSecret, previous: s.sealedPreviousSecret, until: s.previousUntil })[0] as
        | RawEndpointRow
        | undefined;
      return done(row && toEndpoint(row));
    },
    disableWebhookEndpoint: (id, error, at) => {
      q("UPDATE webhook_endpoints SET enabled = 0 WHERE id = $id").run({ id: id });
      q(
        `UPDATE endpoint_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $error
         WHERE endpoint_id = $id AND status = 'pending' AND lease_until <= $at`,
      ).run({ id: id, error: error, at: at });
      return done(undefined);
    },
    claimDeliveries: (c) => {
      const rows = claim.all({
        leaseUntil: c.leaseUntil,
        token: c.token,
        now: c.now,
        inFlight: JSON.stringify(c.inFlight),
        perEndpoint: c.perEndpoint,
        candidates: c.candidates,
        limit: c.limit,
      }) as Array<{ id: string }>;
      return done(rows.map((r) => r.id));
    },
    recordDeliveryAttempt: (o) => {
      const rows = q(
        // A retry for an endpoint disabled meanwhile (a 410 seen by another attempt) ends failed, not pending.
        `UPDATE endpoint_deliveries SET
           status = CASE WHEN $status = 'pending' AND ${DISABLED} THEN 'failed' ELSE $status END,
           next_attempt_at = CASE WHEN ${DISABLED} THEN NULL ELSE $next END,
           attempts = $attempts, last_status_code = $code, last_error = $error, lease_until = 0, lease_token = NULL,
           delivered_at = CASE WHEN $status = 'delivered' THEN $at ELSE delivered_at END
         WHERE id = $id AND lease_token = $token RETURNING id`,
      ).all({
        status: o.status,
        attempts: o.attempts,
        code: o.statusCode,
        error: o.error,
        next: o.nextAttemptAt,
        at: o.at,
        id: o.id,
        token: o.token,
      });
      return done(rows.length === 1);
    },
    retryDelivery: (endpointId, deliveryId, now) => {
      const changed = q(
        `UPDATE endpoint_deliveries SET status = 'pending', next_attempt_at = $now
         WHERE id = $id AND endpoint_id = $endpointId`,
      ).run({ now: now, id: deliveryId, endpointId: endpointId }).changes;
      if (changed === 0) return done(undefined);
      q("UPDATE webhook_endpoints SET enabled = 1 WHERE id = $id").run({ id: endpointId });
      const row = deliveryOf.all({ id: deliveryId, endpointId: endpointId })[0] as RawDeliveryRow;
      return done(toDelivery(row));
    },
    pruneWebhooks: (before) => {
      q("DELETE FROM endpoint_deliveries WHERE status = 'delivered' AND delivered_at < $before").run({
        before: before,
      });
      q(
        `DELETE FROM webhook_events WHERE created_at < $before
         AND NOT EXISTS (SELECT 1 FROM endpoint_deliveries d WHERE d.event_id = webhook_events.id)`,
      ).run({ before: before });
      return done(undefined);
    },
  };

  const reads: WebhookReads = {
    listWebhookEndpoints: async () =>
      (q(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY seq`).all() as RawEndpointRow[]).map(toEndpoint),
    findWebhookEndpoint: async (id) => {
      const row = endpointById.all({ id: id })[0] as RawEndpointRow | undefined;
      return row && toEndpoint(row);
    },
    countWebhookEndpoints: async () => (q("SELECT count(*) AS n FROM webhook_endpoints").get() as { n: number }).n,
    listDeliveries: async (endpointId, page) =>
      (
        q(
          `SELECT ${DELIVERY_COLUMNS} FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           WHERE d.endpoint_id = $endpointId AND d.seq < $before ORDER BY d.seq DESC LIMIT $limit`,
        ).all({ endpointId: endpointId, before: page.before, limit: page.limit }) as RawDeliveryRow[]
      ).map(toDelivery),
    deliveryWork: async (ids) => {
      const rows = q(
        `SELECT d.id AS delivery_id, d.attempts, d.event_id, ev.type AS event_type, ev.payload,
                e.id, e.url, e.events, e.description, e.enabled, e.secret, e.previous_secret,
                e.previous_secret_until, e.created_at
         FROM endpoint_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.id IN (SELECT value FROM json_each($ids))`,
      ).all({ ids: JSON.stringify(ids) }) as Array<
        RawEndpointRow & {
          delivery_id: string;
          attempts: number;
          event_id: string;
          event_type: WebhookEventType;
          payload: string;
        }
      >;
      return rows.map(
        (r): DeliveryWork => ({
          id: r.delivery_id,
          attempts: r.attempts,
          eventId: r.event_id,
          eventType: r.event_type,
          payload: r.payload,
          endpoint: toEndpoint(r),
        }),
      );
    },
    hasDueDeliveries: async (now) =>
      q(
        `SELECT 1 FROM endpoint_deliveries WHERE next_attempt_at <= $now AND status = 'pending'
         AND lease_until <= $now LIMIT 1`,
      ).all({ now: now }).length > 0,
    deliveryQueue: async (now) => {
      const r = q(
        `SELECT count(*) AS pending, min(CASE WHEN next_attempt_at <= $now THEN next_attempt_at END) AS oldest
         FROM endpoint_deliveries WHERE status = 'pending'`,
      ).get({ now: now }) as { pending: number; oldest: number | null };
      return { pending: r.pending, oldestDueAt: r.oldest };
    },
  };
  return { writes, reads };
}
