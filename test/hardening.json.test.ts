import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseStrictJson } from "../src/strict-json.ts";
import { merchantHeaders, openSocket, restCreate, signWebhook, startTestApp, type TestApp, wsUrl } from "./harness.ts";

/**
 * Issue 10, item 9: amounts are read from the JSON number as written, and a body with a duplicate key is
 * refused, on every route that reads money. Both apps get every request: one with /trpc's direct path and
 * one that sends every /trpc call through tRPC's own fetch adapter.
 */
let fast: TestApp;
let library: TestApp;
beforeAll(() => {
  fast = startTestApp();
  library = startTestApp({ trpcFastPath: false });
});
afterAll(async () => {
  await fast.stop();
  await library.stop();
});

/** How `"value":` is written (the duplicate key case writes it twice), and the detail of the 400. */
const AMBIGUOUS: Array<[string, string, string]> = [
  [
    "254.3000000000000001 (a double reads 254.3)",
    "254.3000000000000001",
    "Number cannot be read exactly: 254.3000000000000001",
  ],
  [
    "254.29999999999999999 (a double reads 254.3)",
    "254.29999999999999999",
    "Number cannot be read exactly: 254.29999999999999999",
  ],
  ['{"value":1,"value":254.3} (the last key wins in JSON.parse)', '1,"value":254.3', "Duplicate key: value"],
];
const createBody = (valueText: string) => `{"value":${valueText}}`;

describe("strict JSON (src/strict-json.ts)", () => {
  test.each([
    ['{"value":254.3}', 254.3],
    ['{"value":254.30}', 254.3],
    ['{"value":1e2}', 100],
    ['{"value":2.543e2}', 254.3],
  ])("%s is read as written", (text, value) => {
    expect(parseStrictJson(text)).toEqual({ ok: true, value: { value } });
  });

  test.each([
    ['{"value":254.3000000000000001}', "Number cannot be read exactly: 254.3000000000000001"],
    ['{"value":254.29999999999999999}', "Number cannot be read exactly: 254.29999999999999999"],
    ['{"id":9007199254740993}', "Number cannot be read exactly: 9007199254740993"],
    ['{"value":1e400}', "Number cannot be read exactly: 1e400"],
    ['{"value":1,"value":254.3}', "Duplicate key: value"],
    ['{"value":1,"\\u0076alue":254.3}', "Duplicate key: value"],
    ['{"a":[{"b":1,"c":{"d":1,"d":2}}]}', "Duplicate key: d"],
    ["{not json", "Body is not valid JSON"],
  ])("%s is refused: %s", (text, reason) => {
    const parsed = parseStrictJson(text);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error.reason).toBe(reason);
  });

  test("equal keys in different objects, and key-like text inside strings, are not duplicates", () => {
    expect(parseStrictJson('{"a":{"b":1},"b":{"b":2},"s":"\\",\\"a\\":1"}').ok).toBe(true);
    expect(parseStrictJson('[{"a":1},{"a":1}]').ok).toBe(true);
  });
});

describe("REST: POST /payments and /payments/pix answer 400 Invalid value", () => {
  for (const path of ["/payments", "/payments/pix"]) {
    for (const [label, written, detail] of AMBIGUOUS) {
      test(`${path}: ${label}`, async () => {
        const res = await fetch(`${fast.url}${path}`, {
          method: "POST",
          headers: merchantHeaders(),
          body: createBody(written),
        });
        expect(res.status).toBe(400);
        const body = (await res.json()) as any;
        expect(body.message).toBe("Invalid value");
        expect(body.detail).toBe(detail);
      });
    }
  }

  test("254.30, 254.3 and 2.543e2 are the same amount; nothing was created by the refusals", async () => {
    const [before] = (await fast.query("SELECT COUNT(*) AS n FROM payments")) as Array<{ n: number }>;
    for (const text of ["254.30", "254.3", "2.543e2"]) {
      const res = await fetch(`${fast.url}/payments`, {
        method: "POST",
        headers: merchantHeaders(),
        body: createBody(text),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).payment.value).toBe(254.3);
    }
    expect((await fast.query("SELECT COUNT(*) AS n FROM payments"))[0]).toEqual({ n: before!.n + 3 });
  });

  test("a keyless request is still 401 first, whatever its body", async () => {
    const res = await fetch(`${fast.url}/payments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"value":1,"value":2}',
    });
    expect(res.status).toBe(401);
  });
});

describe("REST: a signed confirmation that is not strict JSON answers 400 Invalid payment data and pays nothing", () => {
  for (const [label, written, detail] of AMBIGUOUS) {
    test(label, async () => {
      const { payment } = (await restCreate(fast.url, 254.3)).body;
      const body = `{"bank_payment_id":"${payment.bank_payment_id}","value":${written}}`;
      const res = await fetch(`${fast.url}/payments/pix/confirmation`, {
        method: "POST",
        headers: signWebhook(body),
        body,
      });
      expect(res.status).toBe(400);
      const answer = (await res.json()) as any;
      expect(answer.message).toBe("Invalid payment data");
      expect(answer.detail).toBe(detail);
      expect((await fast.service.get(payment.id)).status).toBe("pending");
    });
  }

  test("a duplicate bank_payment_id is refused too", async () => {
    const { payment } = (await restCreate(fast.url, 10)).body;
    const other = (await restCreate(fast.url, 10)).body.payment;
    const body = `{"bank_payment_id":"${other.bank_payment_id}","bank_payment_id":"${payment.bank_payment_id}","value":10}`;
    const res = await fetch(`${fast.url}/payments/pix/confirmation`, {
      method: "POST",
      headers: signWebhook(body),
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).detail).toBe("Duplicate key: bank_payment_id");
    expect((await fast.service.get(payment.id)).status).toBe("pending");
    expect((await fast.service.get(other.id)).status).toBe("pending");
  });
});

describe("tRPC over HTTP: create and confirm refuse the same bodies, on the direct path and tRPC's adapter", () => {
  for (const [appName, app] of [
    ["direct path", () => fast],
    ["tRPC's adapter", () => library],
  ] as const) {
    for (const [label, written, detail] of AMBIGUOUS) {
      test(`${appName}: payments.create, ${label}`, async () => {
        const res = await fetch(`${app().url}/trpc/payments.create`, {
          method: "POST",
          headers: merchantHeaders(),
          body: createBody(written),
        });
        expect(res.status).toBe(400);
        const { error } = (await res.json()) as any;
        expect(error.message).toBe("Invalid value");
        expect(error.data.detail).toBe(detail);
      });

      test(`${appName}: payments.confirm, ${label}`, async () => {
        const { payment } = (await restCreate(app().url, 254.3)).body;
        const body = `{"bank_payment_id":"${payment.bank_payment_id}","value":${written}}`;
        const res = await fetch(`${app().url}/trpc/payments.confirm`, {
          method: "POST",
          headers: signWebhook(body),
          body,
        });
        expect(res.status).toBe(400);
        const { error } = (await res.json()) as any;
        expect(error.message).toBe("Invalid payment data");
        expect(error.data.detail).toBe(detail);
        expect((await app().service.get(payment.id)).status).toBe("pending");
      });
    }

    test(`${appName}: a batch whose body has a duplicate key refuses every call in it`, async () => {
      const body = '{"0":{"value":10},"1":{"value":1,"value":254.3}}';
      const res = await fetch(`${app().url}/trpc/payments.create,payments.create?batch=1`, {
        method: "POST",
        headers: merchantHeaders(),
        body,
      });
      expect(res.status).toBe(400);
      const answers = (await res.json()) as any[];
      expect(answers.map((a) => [a.error.message, a.error.data.detail])).toEqual([
        ["Invalid value", "Duplicate key: value"],
        ["Invalid value", "Duplicate key: value"],
      ]);
    });
  }
});

describe("WebSockets: frames are read with the same strict reader", () => {
  test("/ws: a subscribe with a duplicate key is refused as malformed JSON, the socket stays open", async () => {
    const { payment } = (await restCreate(fast.url, 5)).body;
    const ws = await openSocket(wsUrl(fast.url, "/ws"));
    try {
      ws.send(`{"type":"subscribe","bank_payment_id":"${payment.bank_payment_id}","type":"unsubscribe"}`);
      expect(await ws.next()).toEqual({ type: "error", message: "Malformed JSON", detail: "Duplicate key: type" });
      ws.send({ type: "subscribe", bank_payment_id: payment.bank_payment_id });
      expect((await ws.next()).payment.id).toBe(payment.id);
    } finally {
      ws.close();
    }
  });

  test("/trpc-ws: a frame with a duplicate key is a PARSE_ERROR", async () => {
    const { payment } = (await restCreate(fast.url, 5)).body;
    const ws = await openSocket(wsUrl(fast.url, "/trpc-ws"));
    try {
      const id = payment.bank_payment_id;
      ws.send(
        `{"id":1,"method":"subscription","params":{"path":"payments.watch","input":{"bank_payment_id":"${id}","bank_payment_id":"x"}}}`,
      );
      const answer = await ws.next();
      expect(answer.error.data.code).toBe("PARSE_ERROR");
    } finally {
      ws.close();
    }
  });
});
