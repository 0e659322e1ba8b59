import type { Server, ServerWebSocket } from "bun";
import type { Logger } from "pino";
import { INTERNAL_ERROR_MESSAGE, MESSAGES } from "../messages.ts";
import { PaymentError } from "../payments/errors.ts";
import { BANK_PAYMENT_ID } from "../payments/model.ts";
import { presentPaymentToPayer } from "../payments/present.ts";
import { parseStrictJson } from "../strict-json.ts";
import type { PaymentFeed, PaymentState } from "./feed.ts";
import type { ConnectionWatches, WatchBudget } from "./watch-budget.ts";

/** Per-socket state of a /ws connection. */
export interface PaymentSocketData {
  kind: "payments";
  /** bank_payment_ids this socket watches, each with the release of its share of the watch budget. */
  watching: Map<string, () => void>;
  /** This socket's share of the watch budget. */
  watches: ConnectionWatches;
  /** From `/ws?bank_payment_id=`: subscribed as soon as the socket opens. */
  initial: string | null;
}

export interface PaymentSocketsDeps {
  feed: PaymentFeed;
  publicUrl: () => string;
  logger: Logger;
  /** Watches per socket and per instance. */
  budget: WatchBudget;
  /** Counts subscriptions for /metrics (+1 / -1). */
  onSubscriptionsChanged?: (delta: number) => void;
}

/** What one bank_payment_id's topic has told its sockets, on this instance. */
interface Topic {
  /** Every socket on the topic has been sent the state of this event. */
  lastEventId: number;
  sockets: number;
  unfollow: () => void;
}

const topicOf = (bankPaymentId: string) => `payment:${bankPaymentId}`;

/**
 * The /ws protocol of CONTRACT §6 on Bun's own WebSocket: each watched payment is a Bun topic, so one
 * bus event costs one `server.publish`, however many sockets watch it. Bad input gets an `error`
 * message and the socket stays open.
 */
export function createPaymentSockets(deps: PaymentSocketsDeps) {
  const { feed, logger } = deps;
  const topics = new Map<string, Topic>();
  let server: Server<unknown> | null = null;

  const paymentMessage = (state: PaymentState) =>
    JSON.stringify({ type: "payment", payment: presentPaymentToPayer(state.payment, deps.publicUrl()) });
  const errorMessage = (message: string) => JSON.stringify({ type: "error", message });

  /** Sends a newer state to every socket of the topic, once; older or repeated news is dropped. */
  function announce(bankPaymentId: string, state: PaymentState) {
    const topic = topics.get(bankPaymentId);
    if (!topic || state.eventId <= topic.lastEventId || !server) return;
    topic.lastEventId = state.eventId;
    server.publish(topicOf(bankPaymentId), paymentMessage(state));
  }

  function openTopic(bankPaymentId: string): Topic {
    const topic = topics.get(bankPaymentId);
    if (topic) return topic;
    const created: Topic = {
      lastEventId: 0,
      sockets: 0,
      unfollow: feed.follow(bankPaymentId, { change: (state) => announce(bankPaymentId, state) }),
    };
    topics.set(bankPaymentId, created);
    return created;
  }

  function releaseTopic(bankPaymentId: string) {
    const topic = topics.get(bankPaymentId);
    if (!topic) return;
    topic.sockets--;
    if (topic.sockets <= 0) {
      topic.unfollow();
      topics.delete(bankPaymentId);
    }
  }

  async function subscribe(ws: ServerWebSocket<PaymentSocketData>, bankPaymentId: unknown) {
    const id = typeof bankPaymentId === "string" ? bankPaymentId.toLowerCase() : "";
    if (!BANK_PAYMENT_ID.test(id)) {
      ws.send(errorMessage("Invalid bank_payment_id: expected a UUID"));
      return;
    }
    const already = ws.data.watching.has(id);
    let release: (() => void) | undefined;
    if (!already) {
      const slot = deps.budget.take(ws.data.watches);
      if (typeof slot === "string") {
        ws.send(errorMessage(slot === "connection" ? MESSAGES.tooManySubscriptions : MESSAGES.tooManyWatches));
        return;
      }
      release = slot;
    }
    // Subscribe first, then read: a change committed meanwhile reaches this socket through the topic.
    const topic = openTopic(id);
    if (release) {
      ws.subscribe(topicOf(id));
      ws.data.watching.set(id, release);
      topic.sockets++;
      deps.onSubscriptionsChanged?.(1);
    }
    const toldBefore = topic.lastEventId;
    let state: PaymentState;
    try {
      state = await feed.snapshot(id);
    } catch (err) {
      unsubscribe(ws, id);
      if (err instanceof PaymentError) ws.send(errorMessage(err.message));
      else {
        logger.error({ err }, "payment snapshot failed");
        ws.send(errorMessage(INTERNAL_ERROR_MESSAGE));
      }
      return;
    }
    if (!ws.data.watching.has(id)) return; // unsubscribed, or closed, while reading
    if (topic.lastEventId > toldBefore && state.eventId <= topic.lastEventId) {
      // This socket, on the topic, was sent a state at least as new while this one was read.
      return;
    }
    if (state.eventId > topic.lastEventId && topic.sockets > 1) {
      // Newer than what the topic's other sockets have: they need it too, and then the bus's copy of
      // this same event is dropped as already sent.
      announce(id, state);
    } else {
      topic.lastEventId = Math.max(topic.lastEventId, state.eventId);
      ws.send(paymentMessage(state));
    }
  }

  function unsubscribe(ws: ServerWebSocket<PaymentSocketData>, bankPaymentId: string, closed = false) {
    const release = ws.data.watching.get(bankPaymentId);
    if (!release) return;
    ws.data.watching.delete(bankPaymentId);
    release();
    // Bun drops a closed socket's topics by itself.
    if (!closed) ws.unsubscribe(topicOf(bankPaymentId));
    deps.onSubscriptionsChanged?.(-1);
    releaseTopic(bankPaymentId);
  }

  return {
    /** Remembers the server for `server.publish`; call on every upgrade (it is the same server). */
    attach(s: Server<unknown>) {
      server = s;
    },
    open(ws: ServerWebSocket<PaymentSocketData>) {
      if (ws.data.initial !== null) void subscribe(ws, ws.data.initial);
    },
    message(ws: ServerWebSocket<PaymentSocketData>, raw: string | Buffer) {
      if (typeof raw !== "string") {
        ws.send(errorMessage("Expected a JSON text frame"));
        return;
      }
      const parsed = parseStrictJson(raw);
      if (!parsed.ok) {
        ws.send(JSON.stringify({ type: "error", message: "Malformed JSON", detail: parsed.error.reason }));
        return;
      }
      const msg = parsed.value;
      const { type, bank_payment_id } = (msg && typeof msg === "object" ? msg : {}) as Record<string, unknown>;
      switch (type) {
        case "subscribe":
          void subscribe(ws, bank_payment_id);
          return;
        case "unsubscribe":
          if (typeof bank_payment_id === "string") unsubscribe(ws, bank_payment_id.toLowerCase());
          else ws.send(errorMessage("Invalid bank_payment_id: expected a UUID"));
          return;
        default:
          ws.send(
            errorMessage(
              typeof type === "string" ? `Unknown message type: ${type.slice(0, 50)}` : "Missing message type",
            ),
          );
      }
    },
    close(ws: ServerWebSocket<PaymentSocketData>) {
      for (const id of [...ws.data.watching.keys()]) unsubscribe(ws, id, true);
    },
    /** Tells a socket over its message rate that this message was not read. */
    refuse(ws: ServerWebSocket<PaymentSocketData>) {
      ws.send(errorMessage(MESSAGES.tooManyMessages));
    },
    /** Payments watched on this instance (topics), for tests and /metrics. */
    topicCount: () => topics.size,
  };
}

export type PaymentSockets = ReturnType<typeof createPaymentSockets>;
