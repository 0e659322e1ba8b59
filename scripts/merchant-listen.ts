/**
 * A local receiver for the service's merchant webhooks (CONTRACT §10), like `stripe listen`: it listens on a free
 * port, registers itself as a webhook endpoint of the running service, verifies every delivery with
 * `constructWebhookEvent` (the client package's, with the secret it got at registration) and prints one line per
 * event; on Ctrl-C or SIGTERM it deletes its endpoint and exits 0.
 *
 *   npm run merchant:listen -- [--url http://localhost:3000] [--api-key <key>] [--port <n>]
 *                              [--events payment.paid,refund.succeeded]
 *
 * --url defaults to PAYMENTS_URL, else PUBLIC_URL, else http://localhost:$PORT (PORT default 3000); --api-key to
 * the first of API_KEYS, else the development key kept in ./data/dev-secrets.json. The service must accept a
 * loopback URL (the default outside production; WEBHOOK_ALLOW_PRIVATE_URLS=true otherwise).
 */
import { parseArgs } from "node:util";
import { constructWebhookEvent, isRefundEvent } from "../client/webhooks.ts";
import { DEV_SECRETS_FILE, loadDevSecrets } from "../src/config.ts";

const USAGE =
  "usage: npm run merchant:listen -- [--url http://localhost:3000] [--api-key <key>] [--port <n>] " +
  "[--events payment.paid,refund.succeeded]";

let args: { url?: string; "api-key"?: string; port?: string; events?: string; help?: boolean };
try {
  args = parseArgs({
    options: {
      url: { type: "string" },
      "api-key": { type: "string" },
      port: { type: "string" },
      events: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.port !== undefined && !/^\d{1,5}$/.test(args.port)) {
  console.error(`--port must be a port number\n${USAGE}`);
  process.exit(2);
}

const base = (
  args.url ||
  process.env.PAYMENTS_URL ||
  process.env.PUBLIC_URL ||
  `http://localhost:${process.env.PORT || 3000}`
).replace(/\/+$/, "");
const apiKey = args["api-key"] || process.env.API_KEYS?.split(",")[0]?.trim() || loadDevSecrets().api_key;
if (!apiKey) {
  console.error(`No --api-key, no API_KEYS and no ${DEV_SECRETS_FILE}: start the server once, or pass --api-key.`);
  process.exit(2);
}
const events = args.events
  ?.split(",")
  .map((e) => e.trim())
  .filter(Boolean);
const auth = { authorization: `Bearer ${apiKey}` };

const time = () => new Date().toISOString().slice(11, 19);
const seen = new Set<string>();
/** The endpoint's secret, known once registered (a delivery arriving before that waits for it). */
let gotSecret: (secret: string) => void = () => {};
const secret = new Promise<string>((resolve) => (gotSecret = resolve));

// The receiver first, so its port is known when registering.
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: args.port === undefined ? 0 : Number(args.port),
  async fetch(request) {
    if (request.method !== "POST") return new Response("POST webhook deliveries here\n", { status: 405 });
    const body = await request.text();
    const id = request.headers.get("webhook-id") ?? "-";
    try {
      const event = constructWebhookEvent(body, request.headers, await secret);
      const { payment } = event.data;
      const about = isRefundEvent(event)
        ? `refund=${event.data.refund.id} status=${event.data.refund.status} value=${event.data.refund.value} payment=${payment.id}`
        : `payment=${payment.id} status=${payment.status} value=${payment.value}`;
      const repeat = seen.has(id) ? " (again: the same webhook-id, deduplicate by it)" : "";
      seen.add(id);
      console.log(`${time()} verified ${event.type} webhook-id=${id} ${about}${repeat}`);
      return Response.json({ received: true });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      console.log(`${time()} refused webhook-id=${id}: ${message} (answered 400)`);
      return Response.json({ message }, { status: 400 });
    }
  },
});
const receiverUrl = `http://127.0.0.1:${server.port}/`;

/** A call to the service's endpoints API; exits 1 when nothing answers there. */
async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  }).catch((err: Error) => {
    console.error(
      `Nothing answers at ${base} (${err.message}). Start the service there (npm start), ` +
        "or pass --url (or set PAYMENTS_URL / PORT) to where it runs.",
    );
    process.exit(1);
  });
}

const created = await api("POST", "/webhook-endpoints", {
  url: receiverUrl,
  ...(events ? { events } : {}),
  description: "npm run merchant:listen",
});
const answer = (await created.json().catch(() => ({}))) as {
  endpoint?: { id: string };
  secret?: string;
  message?: string;
};
if (created.status !== 201 || !answer.endpoint || !answer.secret) {
  const hint =
    answer.message === "Invalid webhook URL"
      ? ` (the service refuses ${receiverUrl}: in production set WEBHOOK_ALLOW_PRIVATE_URLS=true to allow loopback URLs)`
      : "";
  console.error(`Could not register with ${base}: ${created.status} ${answer.message ?? ""}${hint}`);
  server.stop(true);
  process.exit(1);
}
gotSecret(answer.secret);
const endpointId = answer.endpoint.id;
console.log(`Registered webhook endpoint ${endpointId} with ${base} for ${events ? events.join(", ") : "all events"}`);
console.log(`Listening on ${receiverUrl}; Ctrl-C removes the endpoint and stops`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  const res = await api("DELETE", `/webhook-endpoints/${endpointId}`);
  server.stop(true);
  if (res.status === 204 || res.status === 404) {
    console.log(`${signal}: removed webhook endpoint ${endpointId}`);
    process.exit(0);
  }
  console.error(`${signal}: could not remove webhook endpoint ${endpointId}: ${res.status} ${await res.text()}`);
  process.exit(1);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
