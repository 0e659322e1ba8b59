/**
 * `npm run merchant:listen` (scripts/merchant-listen.ts) as a process against a real server process: it registers
 * itself, prints each delivery verified, refuses a forged one with a 400, and removes its endpoint on SIGTERM.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import {
  BUN,
  merchantHeaders,
  ROOT,
  restConfirm,
  restCreate,
  restGet,
  spawnServer,
  TEST_API_KEY,
  tempDir,
  waitUntil,
} from "./harness.ts";
import { freePort } from "./redis.ts";

/** Starts the listener in `cwd` with only PATH from this environment; collects what it prints. */
function spawnListener(args: string[], cwd: string) {
  const proc = Bun.spawn([BUN, join(ROOT, "scripts/merchant-listen.ts"), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out += decoder.decode(chunk, { stream: true });
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return {
    proc,
    output: () => out,
    /** Waits for the listening line; returns the endpoint id and the receiver's URL. */
    async ready() {
      await waitUntil(() => /Listening on /.test(out) || proc.exitCode !== null, 10_000, "the listening line");
      const endpoint = /Registered webhook endpoint (we_\w+)/.exec(out)?.[1];
      const url = /Listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
      if (!endpoint || !url) throw new Error(`the listener did not start:\n${out}`);
      return { endpoint, url };
    },
  };
}

describe("npm run merchant:listen", () => {
  test("is an npm script that execs the listener (so a signal to npm reaches it)", async () => {
    const pkg = JSON.parse(await Bun.file(join(ROOT, "package.json")).text());
    expect(pkg.scripts["merchant:listen"]).toBe("exec bun scripts/merchant-listen.ts");
  });

  test("registers itself, prints both events of a confirmed payment verified, refuses a forged delivery, and SIGTERM removes its endpoint", async () => {
    const tmp = tempDir();
    const server = await spawnServer({}, tmp.dir);
    const listener = spawnListener(["--url", server.url, "--api-key", TEST_API_KEY], tmp.dir);
    try {
      const { endpoint, url } = await listener.ready();
      expect(listener.output()).toContain(`for all events`);
      const listed = await restGet(server.url, "/webhook-endpoints");
      expect(listed.body.endpoints.map((e: { id: string; url: string }) => [e.id, e.url])).toEqual([[endpoint, url]]);

      const { payment } = (await restCreate(server.url, 254.3)).body;
      const confirmed = await restConfirm(server.url, { bank_payment_id: payment.bank_payment_id, value: 254.3 });
      expect(confirmed.status).toBe(200);
      const line = (type: string) =>
        new RegExp(
          `verified ${type.replace(".", "\\.")} webhook-id=evt_\\w+ payment=${payment.id} status=(\\w+) value=254\\.3\\n`,
        );
      await waitUntil(() => line("payment.paid").test(listener.output()), 10_000, "the payment.paid line");
      expect(line("payment.created").exec(listener.output())?.[1]).toBe("pending");
      expect(line("payment.paid").exec(listener.output())?.[1]).toBe("paid");

      // The service saw 2xx answers: both deliveries are delivered.
      const deliveries = await restGet(server.url, `/webhook-endpoints/${endpoint}/deliveries`);
      expect(
        deliveries.body.deliveries.map((d: { event_type: string; status: string }) => [d.event_type, d.status]),
      ).toEqual([
        ["payment.paid", "delivered"],
        ["payment.created", "delivered"],
      ]);

      // A delivery signed with another secret: refused, printed, answered 400.
      const body = JSON.stringify({ type: "payment.paid", timestamp: new Date().toISOString(), data: { payment } });
      const forgedId = "msg_forged";
      const now = new Date();
      const forged = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": forgedId,
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": new Webhook(`whsec_${Buffer.from("not-the-endpoint-secret!").toString("base64")}`).sign(
            forgedId,
            now,
            body,
          ),
        },
        body,
      });
      expect(forged.status).toBe(400);
      expect(((await forged.json()) as { message: string }).message).toBe("No matching signature");
      await waitUntil(() => listener.output().includes("refused webhook-id=msg_forged: No matching signature"));
      expect(listener.output()).not.toContain("verified payment.paid webhook-id=msg_forged");

      listener.proc.kill("SIGTERM");
      expect(await listener.proc.exited).toBe(0);
      await waitUntil(() => listener.output().includes(`removed webhook endpoint ${endpoint}`));
      expect((await restGet(server.url, "/webhook-endpoints")).body).toEqual({ endpoints: [] });
    } finally {
      if (listener.proc.exitCode === null) listener.proc.kill("SIGKILL");
      await server.stop();
      tmp.cleanup();
    }
  });

  test("uses the development key kept in ./data/ and sends only the --events asked for", async () => {
    const tmp = tempDir();
    // No API_KEYS: the server generates the key into <cwd>/data/, where the listener finds it.
    const server = await spawnServer({ API_KEYS: "", WEBHOOK_SECRET: "" }, tmp.dir);
    const listener = spawnListener(["--url", server.url, "--events", "payment.paid"], tmp.dir);
    try {
      const { endpoint } = await listener.ready();
      const secrets = JSON.parse(await Bun.file(join(tmp.dir, "data/dev-secrets.json")).text());
      const got = await restGet(server.url, `/webhook-endpoints/${endpoint}`, merchantHeaders(secrets.api_key));
      expect(got.body.endpoint.events).toEqual(["payment.paid"]);
      expect(listener.output()).toContain("for payment.paid");

      const { payment } = (await restCreate(server.url, 10, merchantHeaders(secrets.api_key))).body;
      const confirmed = await restConfirm(
        server.url,
        { bank_payment_id: payment.bank_payment_id, value: 10 },
        { secret: secrets.webhook_secret },
      );
      expect(confirmed.status).toBe(200);
      await waitUntil(() => listener.output().includes(`verified payment.paid`), 10_000, "the payment.paid line");
      expect(listener.output()).not.toContain("payment.created");

      listener.proc.kill("SIGINT");
      expect(await listener.proc.exited).toBe(0);
      expect((await restGet(server.url, "/webhook-endpoints", merchantHeaders(secrets.api_key))).body).toEqual({
        endpoints: [],
      });
    } finally {
      if (listener.proc.exitCode === null) listener.proc.kill("SIGKILL");
      await server.stop();
      tmp.cleanup();
    }
  });

  test("names the URL and exits 1 when nothing answers there, or when the key is refused", async () => {
    const tmp = tempDir();
    try {
      const port = await freePort();
      const closed = spawnListener(["--url", `http://127.0.0.1:${port}`, "--api-key", TEST_API_KEY], tmp.dir);
      expect(await closed.proc.exited).toBe(1);
      await waitUntil(() => closed.output().includes(`Nothing answers at http://127.0.0.1:${port}`));

      const server = await spawnServer({}, tmp.dir);
      try {
        const refused = spawnListener(["--url", server.url, "--api-key", "sk_wrong_0123456789abcdef"], tmp.dir);
        expect(await refused.proc.exited).toBe(1);
        await waitUntil(() => refused.output().includes("401 Unauthorized"));
      } finally {
        await server.stop();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
