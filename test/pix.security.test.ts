/**
 * Who may post received Pix, and what a malformed callback gets (CONTRACT §11): a Standard Webhooks signature
 * with WEBHOOK_SECRET, or `?token=<PSP_WEBHOOK_TOKEN>`; otherwise 401 Invalid signature. A body that is not the
 * BCB callback shape is 400 Invalid Pix notification, never a 500. The ledger needs an API key.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import {
  OTHER_API_KEY,
  pixFor,
  restCreate,
  restGet,
  sendPixCallback,
  signWebhook,
  startTestApp,
  type TestApp,
} from "./harness.ts";

const TOKEN = "psp-token-0123456789abcdef";

let app: TestApp;
beforeAll(() => {
  app = startTestApp({ env: { PSP_WEBHOOK_TOKEN: TOKEN } });
});
afterAll(() => app.stop());

const unauthorized = { status: 401, body: { message: "Invalid signature" } };

describe("POST /webhooks/pix authentication", () => {
  test("a valid Standard Webhooks signature is accepted", async () => {
    const payment = (await restCreate(app.url, 10)).body.payment;
    expect(await sendPixCallback(app.url, { pix: [pixFor(payment)] })).toEqual({
      status: 200,
      body: { message: "Received" },
    });
  });

  test("?token=<PSP_WEBHOOK_TOKEN> is accepted instead of a signature", async () => {
    const payment = (await restCreate(app.url, 11)).body.payment;
    expect(await sendPixCallback(app.url, { pix: [pixFor(payment)] }, { token: TOKEN })).toEqual({
      status: 200,
      body: { message: "Received" },
    });
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("paid");
  });

  test("neither, a wrong token, a token of another length, or a bad signature: 401 and nothing applied", async () => {
    const payment = (await restCreate(app.url, 12)).body.payment;
    const body = { pix: [pixFor(payment)] };
    expect(await sendPixCallback(app.url, body, "none")).toEqual(unauthorized);
    expect(await sendPixCallback(app.url, body, { token: `${TOKEN.slice(0, -1)}x` })).toEqual(unauthorized);
    expect(await sendPixCallback(app.url, body, { token: "short" })).toEqual(unauthorized);
    expect(await sendPixCallback(app.url, body, { token: "" })).toEqual(unauthorized);
    const otherSecret = `whsec_${Buffer.from("another-secret-of-32-bytes-length").toString("base64")}`;
    expect(await sendPixCallback(app.url, body, { sign: { secret: otherSecret } })).toEqual(unauthorized);
    expect(await sendPixCallback(app.url, body, { sign: { at: new Date(Date.now() - 10 * 60_000) } })).toEqual(
      unauthorized,
    );
    // Signed over other bytes than the ones sent.
    const text = JSON.stringify(body);
    const res = await fetch(`${app.url}/webhooks/pix`, {
      method: "POST",
      headers: signWebhook(text),
      body: `${text} `,
    });
    expect({ status: res.status, body: await res.json() }).toEqual(unauthorized);
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("pending");
  });

  test("a PSP that appends /pix to a registered URL with a query (…/webhooks/pix?token=…&ignorar=) still gets in", async () => {
    const payment = (await restCreate(app.url, 11.5)).body.payment;
    const res = await fetch(`${app.url}/webhooks/pix?token=${TOKEN}&ignorar=/pix`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pix: [pixFor(payment)] }),
    });
    expect(res.status).toBe(200);
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("paid");
  });

  test("without PSP_WEBHOOK_TOKEN configured, no token is accepted", async () => {
    const plain = startTestApp();
    try {
      const payment = (await restCreate(plain.url, 13)).body.payment;
      expect(await sendPixCallback(plain.url, { pix: [pixFor(payment)] }, { token: TOKEN })).toEqual(unauthorized);
      expect(await sendPixCallback(plain.url, { pix: [pixFor(payment)] }, { token: "undefined" })).toEqual(
        unauthorized,
      );
    } finally {
      await plain.stop();
    }
  });

  test("the signature is checked before the body: an unsigned malformed body is 401, not 400", async () => {
    expect(await sendPixCallback(app.url, "{not json", "none")).toMatchObject(unauthorized);
  });

  test("a PSP posting to <registered url>/pix reaches the route: the URL to register is {PUBLIC_URL}/webhooks", async () => {
    const res = await fetch(`${app.url}/webhooks`, { method: "POST" });
    expect(res.status).toBe(404);
    const wrongMethod = await fetch(`${app.url}/webhooks/pix`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
  });
});

describe("malformed callbacks: 400 Invalid Pix notification, never a 500", () => {
  const e2e = "E12345678202009091221abcdef12345";
  const good = { endToEndId: e2e, txid: "abc123", valor: "10.00", horario: "2020-09-09T20:15:00.358Z" };
  const cases: Array<[string, unknown]> = [
    ["not JSON", "{pix:"],
    ["an empty body", ""],
    ["an array", [good]],
    ["no pix field", { cob: [] }],
    ["pix not an array", { pix: good }],
    ["an endToEndId of 31 characters", { pix: [{ ...good, endToEndId: e2e.slice(0, 31) }] }],
    ["an endToEndId of 33 characters", { pix: [{ ...good, endToEndId: `${e2e}1` }] }],
    ["an endToEndId not starting with E or D", { pix: [{ ...good, endToEndId: `X${e2e.slice(1)}` }] }],
    ["an endToEndId with a hyphen", { pix: [{ ...good, endToEndId: `${e2e.slice(0, 31)}-` }] }],
    ["valor as a number", { pix: [{ ...good, valor: 10 }] }],
    ["valor with one decimal", { pix: [{ ...good, valor: "10.0" }] }],
    ["valor with a comma", { pix: [{ ...good, valor: "10,00" }] }],
    ["valor with 11 digits", { pix: [{ ...good, valor: "12345678901.00" }] }],
    ["a negative valor", { pix: [{ ...good, valor: "-1.00" }] }],
    ["no valor", { pix: [{ ...good, valor: undefined }] }],
    ["horario not RFC 3339", { pix: [{ ...good, horario: "09/09/2020 20:15" }] }],
    ["horario without an offset", { pix: [{ ...good, horario: "2020-09-09T20:15:00" }] }],
    ["no horario", { pix: [{ ...good, horario: undefined }] }],
    ["a txid of 36 characters", { pix: [{ ...good, txid: "a".repeat(36) }] }],
    ["a txid with a hyphen", { pix: [{ ...good, txid: "abc-123" }] }],
    ["infoPagador over 140 characters", { pix: [{ ...good, infoPagador: "x".repeat(141) }] }],
    [
      "a devolução without rtrId",
      { pix: [{ ...good, devolucoes: [{ id: "rf1", valor: "1.00", horario: {}, status: "DEVOLVIDO" }] }] },
    ],
    [
      "a devolução id with a hyphen",
      {
        pix: [
          {
            ...good,
            devolucoes: [{ id: "rf-1", rtrId: `D${e2e.slice(1)}`, valor: "1.00", horario: {}, status: "DEVOLVIDO" }],
          },
        ],
      },
    ],
  ];

  test.each(cases)("%s", async (_name, body) => {
    const answer = await sendPixCallback(app.url, body);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe("Invalid Pix notification");
  });

  test("a wrong content type is 415, a body over 64 KiB 413", async () => {
    const text = JSON.stringify({ pix: [good] });
    const typed = await fetch(`${app.url}/webhooks/pix`, {
      method: "POST",
      headers: { ...signWebhook(text), "content-type": "text/plain" },
      body: text,
    });
    expect(typed.status).toBe(415);
    const big = JSON.stringify({ pix: [{ ...good, infoPagador: "x".repeat(70_000) }] });
    const large = await fetch(`${app.url}/webhooks/pix`, { method: "POST", headers: signWebhook(big), body: big });
    expect(large.status).toBe(413);
  });

  test("fields the spec may add later are accepted and ignored; an empty pix[] is received", async () => {
    const payment = (await restCreate(app.url, 10)).body.payment;
    const pix = {
      ...pixFor(payment),
      chave: "123e4567-e12b-12d1-a456-426655440000",
      componentesValor: { original: { valor: "10.00" } },
    };
    expect(await sendPixCallback(app.url, { pix: [pix], extra: true })).toEqual({
      status: 200,
      body: { message: "Received" },
    });
    expect(await sendPixCallback(app.url, { pix: [] })).toEqual({ status: 200, body: { message: "Received" } });
  });

  test("the ledger needs an API key; an unknown or malformed endToEndId is 404 Pix not found", async () => {
    expect(await restGet(app.url, "/pix", {})).toEqual({ status: 401, body: { message: "Unauthorized" } });
    expect(await restGet(app.url, `/pix/${e2e}`, {})).toEqual({ status: 401, body: { message: "Unauthorized" } });
    expect(await restGet(app.url, `/pix/${"E".padEnd(32, "0")}`)).toEqual({
      status: 404,
      body: { message: "Pix not found" },
    });
    // Without a key even a malformed id is 401 first (nothing is said of what exists); with one it is 404.
    expect(await restGet(app.url, "/pix/not-an-e2e", {})).toEqual({ status: 401, body: { message: "Unauthorized" } });
    expect(await restGet(app.url, "/pix/not-an-e2e")).toEqual({ status: 404, body: { message: "Pix not found" } });
    expect((await restGet(app.url, "/pix?status=paid")).body.message).toBe("Invalid status");
    expect((await restGet(app.url, "/pix?limit=0")).body.message).toBe("Invalid limit");
    expect((await restGet(app.url, "/pix?cursor=bm9wZQ")).body.message).toBe("Invalid cursor");
    expect((await restGet(app.url, "/pix?txid=x")).body.message).toBe("Unknown query parameter: txid");
    // A payments cursor is not a ledger cursor.
    const page = (await restGet(app.url, "/payments?limit=1")).body;
    expect((await restGet(app.url, `/pix?cursor=${page.next_cursor}`)).body.message).toBe("Invalid cursor");
    // Any merchant key reads the ledger (the service has one receiver, PIX_KEY).
    expect((await restGet(app.url, "/pix", { authorization: `Bearer ${OTHER_API_KEY}` })).status).toBe(200);
  });

  test("the signed body is verified over its exact bytes with the standardwebhooks package's scheme", async () => {
    const payment = (await restCreate(app.url, 14)).body.payment;
    const body = JSON.stringify({ pix: [pixFor(payment)] });
    const id = `msg_${crypto.randomUUID()}`;
    const at = new Date();
    const secret = `whsec_${Buffer.from("test-webhook-secret-32-bytes-long").toString("base64")}`;
    const res = await fetch(`${app.url}/webhooks/pix`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": new Webhook(secret).sign(id, at, body),
      },
      body,
    });
    expect(res.status).toBe(200);
  });
});
