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
      ["/healthz", "/payments", "/payments/pix", "/payments/pix/confirmation", "/payments/{id}", "/readyz"].sort(),
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
        "description",
        "metadata",
        "return_url",
        "expiration_date",
        "id",
        "paid",
        "paid_at",
        "pix_copy_paste",
        "qr_code",
        "status",
        "value",
      ].sort(),
    );
    const list = doc.paths["/payments"].get;
    expect(list.parameters.map((p: any) => p.name).sort()).toEqual(["cursor", "limit", "status"]);
  });
});
