import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
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
        "/webhooks/pix",
      ].sort(),
    );
    expect(Object.keys(doc.paths["/payments"]).sort()).toEqual(["get", "post"]);
    expect(doc.paths["/payments/{id}"].get).toBeDefined();
    expect(doc.servers[0].url).toBe("https://pay.example.com");
  });

  test("carries the contract's statuses and messages, from the same zod schemas", () => {
    const create = doc.paths["/payments"].post;
    expect(create.responses["400"].description).toBe("Invalid value");
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
    expect(Object.keys(confirm.responses).sort()).toEqual(["200", "400", "401", "404", "409", "413", "415", "500"]);
    expect(confirm.parameters.map((p: any) => p.name)).toEqual([
      "webhook-id",
      "webhook-timestamp",
      "webhook-signature",
    ]);
    expect(confirm.security).toEqual([]);
    expect(create.security).toEqual([{ apiKey: [] }]);
    const payment = doc.components.schemas.Payment;
    expect(Object.keys(payment.properties).sort()).toEqual(
      [
        "bank_payment_id",
        "checkout_url",
        "created_at",
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
    expect(callback.security).toEqual([]);
    expect(callback.responses["400"].description).toBe("Invalid Pix notification");
    expect(callback.responses["401"].description).toBe("Invalid signature");
    const params = Object.fromEntries(callback.parameters.map((p: any) => [p.name, p]));
    expect(params.token).toMatchObject({ in: "query", required: false });
    expect(params["webhook-signature"]).toMatchObject({ in: "header", required: false });
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
