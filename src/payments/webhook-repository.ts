import type { WebhookEventType } from "../webhooks/events.ts";
import type { Step } from "./repository.ts";

/**
 * The storage port of merchant webhooks (CONTRACT §10): endpoints, the events to send and one delivery per
 * event and endpoint. Its writes are steps of the payment repository's writes (`PaymentWrites` extends
 * `WebhookWrites`), so an event and its deliveries commit in the same transaction as the change that caused
 * them: the transactional outbox. Times are epoch milliseconds.
 */

export type DeliveryStatus = "pending" | "delivered" | "failed";

export interface WebhookEndpointRecord {
  id: string;
  url: string;
  /** Empty: every event type. */
  events: WebhookEventType[];
  description: string | null;
  enabled: boolean;
  /** The signing secret, sealed (see src/webhooks/secret-box.ts): a database read alone does not reveal it. */
  sealedSecret: string;
  /** The secret before the last rotation, sealed, still signing until `previousSecretUntil`. */
  sealedPreviousSecret: string | null;
  previousSecretUntil: number | null;
  createdAt: number;
}

export interface NewWebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  sealedSecret: string;
  createdAt: number;
}

export interface DeliveryRecord {
  /** Orders an endpoint's deliveries (newest first) and pages them. */
  seq: number;
  id: string;
  endpointId: string;
  eventId: string;
  eventType: WebhookEventType;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  createdAt: number;
  deliveredAt: number | null;
}

/** What one attempt needs, read after a claim: the event's body and the endpoint's address and secrets. */
export interface DeliveryWork {
  id: string;
  attempts: number;
  eventId: string;
  eventType: WebhookEventType;
  payload: string;
  endpoint: WebhookEndpointRecord;
}

/** An attempt's outcome, recorded by the holder of the delivery's lease. */
export interface DeliveryOutcome {
  id: string;
  token: string;
  status: DeliveryStatus;
  attempts: number;
  statusCode: number | null;
  error: string | null;
  /** When to try again (status pending), else null. */
  nextAttemptAt: number | null;
  at: number;
}

/** A merchant-webhook event as a write records it: its deliveries are due at `dueAt`. */
export interface NewWebhookEvent {
  id: string;
  type: WebhookEventType;
  payload: string;
  createdAt: number;
  dueAt: number;
}

/**
 * The event of a payment not yet inserted: its payload is `payloadBefore`, the new payment's id, `payloadAfter`
 * (the id is the one field of the payload that only the insert knows).
 */
export interface NewWebhookEventAroundId extends Omit<NewWebhookEvent, "payload"> {
  payloadBefore: string;
  payloadAfter: string;
}

export interface WebhookWrites {
  /**
   * Records an event and one pending delivery, due at `dueAt`, for every enabled endpoint whose filter takes
   * its type; nothing when no endpoint does. Returns how many deliveries it queued.
   */
  recordWebhookEvent(event: NewWebhookEvent): Step<number>;
  insertWebhookEndpoint(endpoint: NewWebhookEndpoint): Step<WebhookEndpointRecord>;
  /** Deletes the endpoint and its deliveries; false when there was none. */
  deleteWebhookEndpoint(id: string): Step<boolean>;
  /** A new secret; the old one keeps signing until `previousUntil`. Undefined when there is no such endpoint. */
  rotateWebhookSecret(
    id: string,
    secrets: { sealedSecret: string; sealedPreviousSecret: string; previousUntil: number },
  ): Step<WebhookEndpointRecord | undefined>;
  /**
   * Disables an endpoint (it answered 410 Gone) and fails its pending deliveries that nobody holds, with `error`.
   */
  disableWebhookEndpoint(id: string, error: string, at: number): Step<void>;
  /**
   * Leases at most `limit` due deliveries (pending, `next_attempt_at <= now`, no live lease, endpoint enabled),
   * oldest due first, until `leaseUntil` under `token`, taking of each endpoint at most `perEndpoint` less what
   * `inFlight` says it has in flight already (endpoint id → attempts). A delivery is leased by one claim at a
   * time, on any instance. Looks at the `candidates` oldest due deliveries only, so its cost does not grow with
   * the backlog. Returns their ids.
   */
  claimDeliveries(claim: {
    now: number;
    leaseUntil: number;
    token: string;
    limit: number;
    perEndpoint: number;
    inFlight: Record<string, number>;
    candidates: number;
  }): Step<string[]>;
  /** Records an attempt and releases the lease; false when `token` no longer holds it. */
  recordDeliveryAttempt(outcome: DeliveryOutcome): Step<boolean>;
  /**
   * Makes a delivery of the endpoint due at once (pending again, whatever its status) and enables the endpoint
   * again. Undefined when the endpoint has no such delivery.
   */
  retryDelivery(endpointId: string, deliveryId: string, now: number): Step<DeliveryRecord | undefined>;
  /** Deletes delivered deliveries delivered before `before`, and events older than it that none refers to. */
  pruneWebhooks(before: number): Step<void>;
}

export interface WebhookReads {
  /** Every endpoint, oldest first. */
  listWebhookEndpoints(): Promise<WebhookEndpointRecord[]>;
  findWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | undefined>;
  countWebhookEndpoints(): Promise<number>;
  /** An endpoint's deliveries, newest first, with `seq < before`. */
  listDeliveries(endpointId: string, page: { before: number; limit: number }): Promise<DeliveryRecord[]>;
  /** The claimed deliveries' work, in no particular order (a delivery deleted meanwhile is missing). */
  deliveryWork(ids: string[]): Promise<DeliveryWork[]>;
  /** True when some delivery is due at `now` and not leased (a cheap look before claiming). */
  hasDueDeliveries(now: number): Promise<boolean>;
  /** Pending deliveries, and when the oldest of those due at `now` became due (null: none due). */
  deliveryQueue(now: number): Promise<{ pending: number; oldestDueAt: number | null }>;
}
