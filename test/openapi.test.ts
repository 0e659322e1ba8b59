import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Webhook } from "standardwebhooks";
import { constructWebhookEvent } from "../client/webhooks.ts";
import { MESSAGES } from "../src/messages.ts";
import {
  confirmPaymentInput,
  createPaymentInput,
  createPaymentOutput,
  getPaymentOutput,
  listPaymentsOutput,
  messageOutput,
} from "../src/payments/schema.ts";
import { WEBHOOK_EVENT_TYPES } from "../src/webhooks/events.ts";
import { startTestApp, type TestApp } from "./harness.ts";

let app: TestApp;
let doc: any;
beforeAll(async () => {
  app = startTestApp({ env: { PUBLIC_URL: "https://pay.example.com" } });
  const res = await fetch(`${app.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  doc = await res.json();
});
afterAll(() => app.stop());

describe("GET /openapi.json", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  test("documents every REST route of the contract", () => {
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        "/healthz",
        "/payments",
        "/payments/pix",
        "/payments/pix/confirmation",
        "/payments/{id}",
        "/payments/{id}/refunds",
        "/pix",
        "/pix/{end_to_end_id}",
        "/readyz",
        "/webhook-endpoints",
        "/webhook-endpoints/{id}",
        "/webhook-endpoints/{id}/deliveries",
        "/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
        "/webhook-endpoints/{id}/rotate-secret",
        "/webhooks/pix",
      ].sort(),
    );
    expect(Object.keys(doc.paths["/payments"]).sort()).toEqual(["get", "post"]);
    expect(doc.paths["/payments/{id}"].get).toBeDefined();
    expect(doc.servers[0].url).toBe("https://pay.example.com");
  });

  test("carries the contract's statuses and messages, from the same zod schemas", () => {
    const create = doc.paths["/payments"].post;
    expect(create.responses["400"].description).toBe(
      "Invalid value | Invalid description | Invalid metadata | Invalid return_url",
    );
    expect(create.responses["401"].description).toBe("Unauthorized");
    expect(create.responses["422"].description).toBe("Idempotency key reused with different parameters");
    expect(create.requestBody.content["application/json"].schema).toMatchObject({
      type: "object",
      properties: { value: { type: "number", exclusiveMinimum: 0, maximum: 9999999999.99 } },
      required: ["value"],
      additionalProperties: false,
    });
    expect(create.parameters.map((p: any) => p.name)).toContain("Idempotency-Key");
    const confirm = doc.paths["/payments/pix/confirmation"].post;
    expect(Object.keys(confirm.responses).sort()).toEqual([
      "200",
      "400",
      "401",
      "404",
      "409",
      "413",
      "415",
      "500",
      "503",
    ]);
    // The signature's three headers are the operation's security, all required together.
    expect(confirm.security).toEqual([{ webhookId: [], webhookTimestamp: [], webhookSignature: [] }]);
    expect(confirm.parameters).toBeUndefined();
    expect(create.security).toEqual([{ apiKey: [] }]);
    const payment = doc.components.schemas.Payment;
    expect(Object.keys(payment.properties).sort()).toEqual(
      [
        "bank_payment_id",
        "checkout_url",
        "created_at",
        "description",
        "metadata",
        "return_url",
        "end_to_end_id",
        "expiration_date",
        "id",
        "paid",
        "paid_at",
        "pix_copy_paste",
        "qr_code",
        "refunded_value",
        "status",
        "value",
      ].sort(),
    );
    const list = doc.paths["/payments"].get;
    expect(list.parameters.map((p: any) => p.name).sort()).toEqual(["cursor", "limit", "status"]);
  });

  test("documents the bank side (§11): refunds answer 201, the PSP callback takes a signature or a token", () => {
    const refund = doc.paths["/payments/{id}/refunds"].post;
    expect(Object.keys(refund.responses).sort()).toEqual(
      ["201", "400", "401", "404", "409", "413", "415", "422", "500", "503"].sort(),
    );
    expect(refund.responses["422"].description).toContain("Refund exceeds the refundable amount");
    expect(refund.responses["503"].description).toBe("Refunds are not configured");
    expect(refund.parameters.map((p: any) => p.name)).toEqual(["id", "Idempotency-Key"]);
    expect(refund.requestBody.content["application/json"].schema).toMatchObject({
      properties: { value: { type: "number" }, reason: {} },
      required: ["value"],
      additionalProperties: false,
    });
    expect(Object.keys(doc.paths["/payments/{id}/refunds"]).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.components.schemas.Refund.properties).sort()).toEqual(
      ["created_at", "failure_reason", "id", "payment_id", "reason", "refunded_at", "status", "value"].sort(),
    );

    const callback = doc.paths["/webhooks/pix"].post;
    // Either the Standard Webhooks signature or the PSP's token: two alternatives of the operation's security.
    expect(callback.security).toEqual([
      { webhookId: [], webhookTimestamp: [], webhookSignature: [] },
      { pspToken: [] },
    ]);
    expect(doc.components.securitySchemes.pspToken).toMatchObject({ type: "apiKey", in: "query", name: "token" });
    expect(callback.responses["400"].description).toBe("Invalid Pix notification");
    expect(callback.responses["401"].description).toBe("Invalid signature");
    const pix = callback.requestBody.content["application/json"].schema.properties.pix;
    expect(pix.items.required.sort()).toEqual(["endToEndId", "horario", "valor"]);
    expect(pix.items.properties.valor.pattern).toBe("^\\d{1,10}\\.\\d{2}$");

    const one = doc.paths["/pix/{end_to_end_id}"].get;
    expect(one.parameters[0]).toMatchObject({ name: "end_to_end_id", in: "path", required: true });
    expect(one.responses["404"].description).toBe("Pix not found");
    expect(doc.paths["/pix"].get.parameters.map((p: any) => p.name).sort()).toEqual(["cursor", "limit", "status"]);
    expect(Object.keys(doc.components.schemas.ReceivedPix.properties).sort()).toEqual(
      [
        "end_to_end_id",
        "payer_info",
        "payment_id",
        "reason",
        "received_at",
        "refunded_value",
        "status",
        "txid",
        "value",
      ].sort(),
    );
  });
});

/** Every operation of the document, with its path and method. */
const operations = () =>
  Object.entries(doc.paths).flatMap(([path, ops]: [string, any]) =>
    Object.entries(ops).map(([method, op]: [string, any]) => ({ path, method, op })),
  );

/** A response object, following a $ref into components.responses. */
const resolve = (response: any) =>
  response.$ref ? doc.components.responses[response.$ref.replace("#/components/responses/", "")] : response;

describe("what the document shows of each answer", () => {
  test("every request body and every response body has an example", () => {
    const missing: string[] = [];
    for (const { path, method, op } of operations()) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {}) as Array<[string, any]>) {
        if (media.example === undefined && !media.examples) missing.push(`${method} ${path} request ${type}`);
      }
      for (const [status, response] of Object.entries(op.responses) as Array<[string, any]>) {
        for (const [type, media] of Object.entries(resolve(response).content ?? {}) as Array<[string, any]>) {
          if (media.example === undefined && !media.examples) missing.push(`${method} ${path} ${status} ${type}`);
        }
      }
    }
    for (const [name, response] of Object.entries(doc.components.responses) as Array<[string, any]>) {
      if (!response.content["application/json"].example) missing.push(`components.responses.${name}`);
    }
    expect(operations().length).toBe(19);
    expect(missing).toEqual([]);
  });

  test("the examples are what the service answers: they pass the procedures' own zod schemas", () => {
    const body = (path: string, method: string, status = "200") =>
      doc.paths[path][method].responses[status].content["application/json"];
    const request = (path: string) => doc.paths[path].post.requestBody.content["application/json"].example;
    expect(createPaymentInput.safeParse(request("/payments")).success).toBe(true);
    expect(request("/payments")).toMatchObject({ description: "Pedido #1234", metadata: { order_id: "1234" } });
    expect(confirmPaymentInput.safeParse(request("/payments/pix/confirmation")).success).toBe(true);
    expect(createPaymentOutput.parse(body("/payments", "post").example).payment.checkout_url).toStartWith(
      "https://pay.example.com/pay/",
    );
    expect(getPaymentOutput.safeParse(body("/payments/{id}", "get").example).success).toBe(true);
    expect(listPaymentsOutput.safeParse(body("/payments", "get").example).success).toBe(true);
    expect(messageOutput.safeParse(body("/payments/pix/confirmation", "post").example).success).toBe(true);
    // Each message a status can carry is an example of its own.
    const bad = body("/payments", "post", "400").examples;
    expect(Object.values(bad).map((e: any) => e.value.message)).toEqual([
      "Invalid value",
      "Invalid description",
      "Invalid metadata",
      "Invalid return_url",
    ]);
  });

  test("strings carry their formats: uuid, date-time, uri", () => {
    const payment = doc.components.schemas.Payment.properties;
    expect(payment.bank_payment_id.format).toBe("uuid");
    expect(payment.created_at.format).toBe("date-time");
    expect(payment.paid_at.format).toBe("date-time");
    expect(payment.qr_code.format).toBe("uri");
    expect(payment.checkout_url.format).toBe("uri");
    expect(payment.return_url.format).toBe("uri");
    const create = doc.paths["/payments"].post.requestBody.content["application/json"].schema.properties;
    expect(create.return_url.anyOf[0]).toMatchObject({ type: "string", format: "uri", maxLength: 2048 });
    expect(create.description.anyOf[0]).toMatchObject({ type: "string", minLength: 1, maxLength: 140 });
    expect(create.metadata.anyOf[0]).toMatchObject({ type: "object", maxProperties: 20 });
  });

  test("the Error schema has the issues and detail that 400 bodies carry", () => {
    const error = doc.components.schemas.Error;
    expect(error.required).toEqual(["message"]);
    expect(error.properties.detail.type).toBe("string");
    expect(error.properties.issues.items.properties.path).toEqual(
      expect.objectContaining({ type: "array", items: { type: "string" } }),
    );
    expect(error.properties.issues.items.required).toEqual(["path", "message"]);
  });

  test("the generic answers of every route are documented with the service's messages", async () => {
    const responses = doc.components.responses;
    expect(responses.NotFound.content["application/json"].example).toEqual({ message: MESSAGES.notFound });
    expect(responses.MethodNotAllowed.content["application/json"].example).toEqual({
      message: MESSAGES.methodNotAllowed,
    });
    expect(responses.MethodNotAllowed.headers.Allow.schema.type).toBe("string");
    expect(responses.InternalError.content["application/json"].example).toEqual({ message: "Internal server error" });
    expect(doc.info.description).toContain("404");
    expect(doc.info.description).toContain("405");
    // ...and they are what the service sends.
    const unknown = await fetch(`${app.url}/no/such/path`);
    expect({ status: unknown.status, body: await unknown.json() }).toEqual({
      status: 404,
      body: responses.NotFound.content["application/json"].example,
    });
    const wrongMethod = await fetch(`${app.url}/payments`, { method: "DELETE" });
    expect({ status: wrongMethod.status, body: await wrongMethod.json() }).toEqual({
      status: 405,
      body: responses.MethodNotAllowed.content["application/json"].example,
    });
    expect(wrongMethod.headers.get("allow")).toBe("POST, GET, HEAD");
  });

  test("the webhook signing scheme is in securitySchemes, header by header", () => {
    const schemes = doc.components.securitySchemes;
    expect(schemes.webhookId).toMatchObject({ type: "apiKey", in: "header", name: "webhook-id" });
    expect(schemes.webhookTimestamp).toMatchObject({ type: "apiKey", in: "header", name: "webhook-timestamp" });
    expect(schemes.webhookSignature).toMatchObject({ type: "apiKey", in: "header", name: "webhook-signature" });
    expect(schemes.webhookSignature.description).toContain("HMAC-SHA256");
    expect(schemes.webhookSignature.description).toContain("whsec_");
    expect(schemes.apiKey).toMatchObject({ type: "http", scheme: "bearer" });
  });
});

describe("the outgoing merchant webhook (§10) is the document's `webhooks` entry", () => {
  test("a POST with the event body and the three Standard Webhooks headers", () => {
    expect(Object.keys(doc.webhooks)).toEqual(["merchantEvent"]);
    const delivery = doc.webhooks.merchantEvent.post;
    expect(delivery.parameters.map((p: any) => [p.name, p.in, p.required])).toEqual([
      ["webhook-id", "header", true],
      ["webhook-timestamp", "header", true],
      ["webhook-signature", "header", true],
    ]);
    expect(delivery.parameters[0].description).toContain("same on every attempt");
    expect(delivery.parameters[2].description).toContain("space-separated");
    expect(Object.keys(delivery.responses).sort()).toEqual(["2XX", "410", "default"]);

    const media = delivery.requestBody.content["application/json"];
    expect(media.schema).toEqual({ $ref: "#/components/schemas/WebhookEvent" });
    const event = doc.components.schemas.WebhookEvent;
    expect(event.required).toEqual(["type", "timestamp", "data"]);
    expect(event.properties.type.enum).toEqual([...WEBHOOK_EVENT_TYPES]);
    expect(event.properties.data.properties.payment).toEqual({ $ref: "#/components/schemas/Payment" });
    expect(event.properties.data.properties.refund).toEqual({ $ref: "#/components/schemas/Refund" });

    // The example is an event the client's constructWebhookEvent accepts, with a paid payment of the Payment shape.
    expect(getPaymentOutput.safeParse({ payment: media.example.data.payment }).success).toBe(true);
    const body = JSON.stringify(media.example);
    const secret = `whsec_${Buffer.from("openapi-example-webhook-secret!!").toString("base64")}`;
    const now = new Date();
    const headers = {
      "webhook-id": "evt_example",
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign("evt_example", now, body),
    };
    expect(constructWebhookEvent(body, headers, secret)).toMatchObject({
      type: "payment.paid",
      data: { payment: { status: "paid" } },
    });
  });
});
