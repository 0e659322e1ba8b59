import { z } from "zod";
import { INTERNAL_ERROR_MESSAGE, MESSAGES } from "../messages.ts";
import type { Payment } from "../payments/model.ts";
import {
  presentDelivery,
  presentPayment,
  presentReceivedPix,
  presentRefund,
  presentWebhookEndpoint,
} from "../payments/present.ts";
import { buildBrCode, txidFromUuid } from "../pix/brcode.ts";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/events.ts";
import { type RestRoute, restRoutes } from "./rest.ts";

type JsonSchema = Record<string, unknown>;

const EXAMPLE_BANK_PAYMENT_ID = "ca2910ae-c4e8-44d3-b510-e573e9be9a58";
const EXAMPLE_END_TO_END_ID = "E12345678202504081516abcdefghijk";
const EXAMPLE_ORDER = {
  description: "Pedido #1234",
  metadata: { order_id: "1234" },
  return_url: "https://loja.example/pedidos/1234",
};

/** The payment of every example: CONTRACT §3's, with a real BR Code, presented by the code that presents them. */
function examplePayment(serverUrl: string, status: "pending" | "paid" = "pending") {
  const createdAt = Date.UTC(2025, 3, 8, 15, 15, 25);
  const payment: Payment = {
    id: 6,
    bankPaymentId: EXAMPLE_BANK_PAYMENT_ID,
    amountCents: 25430,
    status,
    brCode: buildBrCode({
      pixKey: "123e4567-e12b-12d1-a456-426655440000",
      merchantName: "Loja Demo",
      merchantCity: "Sao Paulo",
      amountCents: 25430,
      txid: txidFromUuid(EXAMPLE_BANK_PAYMENT_ID),
      pointOfInitiation: "12",
    }),
    createdAt,
    expiresAt: createdAt + 30 * 60_000,
    paidAt: status === "paid" ? createdAt + 60_000 : null,
    description: EXAMPLE_ORDER.description,
    metadata: EXAMPLE_ORDER.metadata,
    returnUrl: EXAMPLE_ORDER.return_url,
    endToEndId: status === "paid" ? EXAMPLE_END_TO_END_ID : null,
    refundedCents: 0,
  };
  return presentPayment(payment, serverUrl);
}

/** The refund of the examples: R$ 10,00 of the example payment. */
function exampleRefund(status: "pending" | "refunded") {
  const createdAt = Date.UTC(2025, 3, 9, 10, 0, 0);
  return presentRefund({
    id: "rf0f3c9b1e6d2a4c7b8e9f0a1b2c3d4e5f",
    paymentId: 6,
    endToEndId: EXAMPLE_END_TO_END_ID,
    amountCents: 1000,
    reason: "Produto devolvido",
    status,
    failureReason: null,
    rtrId: null,
    createdAt,
    settledAt: status === "refunded" ? createdAt + 5_000 : null,
  });
}

/** The received Pix of the examples: the one that paid the example payment. */
function examplePix() {
  return presentReceivedPix({
    id: 1,
    endToEndId: EXAMPLE_END_TO_END_ID,
    txid: txidFromUuid(EXAMPLE_BANK_PAYMENT_ID),
    amountCents: 25430,
    receivedAt: Date.UTC(2025, 3, 8, 15, 16, 25),
    payerInfo: "Pedido #1234",
    status: "matched",
    reason: null,
    paymentId: 6,
    refundedCents: 0,
  });
}

/** The merchant webhook endpoint of the examples. */
function exampleEndpoint(enabled = true) {
  return presentWebhookEndpoint({
    id: "we_4f9c2b7a1d3e4f5a6b7c8d9e0f1a2b3c",
    url: "https://loja.example/webhooks/pix-payments",
    events: ["payment.paid", "refund.succeeded"],
    description: "Order fulfilment",
    enabled,
    sealedSecret: "",
    sealedPreviousSecret: null,
    previousSecretUntil: null,
    createdAt: Date.UTC(2025, 3, 8, 12, 0, 0),
  });
}

/** A delivery of the examples: the example payment's payment.paid, delivered on the second attempt. */
function exampleDelivery(status: "delivered" | "pending") {
  const createdAt = Date.UTC(2025, 3, 8, 15, 16, 25);
  return presentDelivery({
    seq: 7,
    id: "wd_9a8b7c6d5e4f30211f2e3d4c5b6a7980",
    endpointId: "we_4f9c2b7a1d3e4f5a6b7c8d9e0f1a2b3c",
    eventId: "evt_0d1c2b3a495867f8e9d0c1b2a3948576",
    eventType: "payment.paid",
    status,
    attempts: status === "delivered" ? 2 : 1,
    lastStatusCode: status === "delivered" ? 200 : 500,
    lastError: status === "delivered" ? null : "HTTP 500",
    nextAttemptAt: status === "delivered" ? null : createdAt + 5_000,
    createdAt,
    deliveredAt: status === "delivered" ? createdAt + 5_200 : null,
  });
}

const EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** Request and 200-response examples of each procedure a REST route runs. */
function examplesFor(route: RestRoute, serverUrl: string): { request?: unknown; response: unknown } {
  switch (route.procedure) {
    case "payments.create":
      return {
        request: { value: 254.3, ...EXAMPLE_ORDER },
        response: { message: "The payment has been created", payment: examplePayment(serverUrl) },
      };
    case "payments.confirm":
      return {
        request: { bank_payment_id: EXAMPLE_BANK_PAYMENT_ID, value: 254.3 },
        response: { message: "The payment has been confirmed" },
      };
    case "payments.get":
      return { response: { payment: examplePayment(serverUrl, "paid") } };
    case "payments.list":
      return { response: { payments: [examplePayment(serverUrl, "paid")], next_cursor: "cDo1" } };
    case "refunds.create":
      return {
        request: { value: 10, reason: "Produto devolvido" },
        response: { message: "The refund has been requested", refund: exampleRefund("pending") },
      };
    case "refunds.list":
      return { response: { refunds: [exampleRefund("refunded")] } };
    case "pix.notify":
      return {
        request: {
          pix: [
            {
              endToEndId: EXAMPLE_END_TO_END_ID,
              txid: txidFromUuid(EXAMPLE_BANK_PAYMENT_ID),
              valor: "254.30",
              horario: "2025-04-08T15:16:25.000Z",
              infoPagador: "Pedido #1234",
            },
          ],
        },
        response: { message: "Received" },
      };
    case "pix.list":
      return { response: { pix: [examplePix()], next_cursor: null } };
    case "pix.get":
      return { response: { pix: examplePix() } };
    case "webhooks.create":
      return {
        request: {
          url: "https://loja.example/webhooks/pix-payments",
          events: ["payment.paid", "refund.succeeded"],
          description: "Order fulfilment",
        },
        response: { endpoint: exampleEndpoint(), secret: EXAMPLE_SECRET },
      };
    case "webhooks.list":
      return { response: { endpoints: [exampleEndpoint()] } };
    case "webhooks.get":
      return { response: { endpoint: exampleEndpoint() } };
    case "webhooks.delete":
      return { response: undefined };
    case "webhooks.rotateSecret":
      return { response: { secret: EXAMPLE_SECRET } };
    case "webhooks.deliveries":
      return { response: { deliveries: [exampleDelivery("delivered")], next_cursor: "ZDo3" } };
    case "webhooks.retry":
      return { response: { delivery: exampleDelivery("pending") } };
    default:
      throw new Error(`no OpenAPI example for ${route.procedure}`);
  }
}

/** A name for each example of an error status, e.g. "Invalid value" → "invalid_value". */
const exampleName = (message: string) =>
  message
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_|_$/g, "");

/** Builds the OpenAPI 3.1 document of every REST route from the same zod schemas the procedures use. */
export function buildOpenApiDocument(serverUrl: string): Record<string, unknown> {
  const components: Record<string, JsonSchema> = {
    Error: {
      type: "object",
      description:
        "Every error body. 400 bodies may say more: `issues` (which input field failed, from the schema) or " +
        "`detail` (why the body could not be read).",
      properties: {
        message: { type: "string", description: "The contract's message", examples: ["Invalid value"] },
        issues: {
          type: "array",
          description: "400 only: the fields that failed validation",
          items: {
            type: "object",
            properties: {
              path: { type: "array", items: { type: "string" }, examples: [["value"]] },
              message: { type: "string", examples: ["Too small: expected number to be >0"] },
            },
            required: ["path", "message"],
          },
        },
        detail: {
          type: "string",
          description: "400 only: why the body was not read",
          examples: ["Body is not valid JSON"],
        },
      },
      required: ["message"],
    },
  };

  // zod puts schemas with a meta id (Payment) in $defs; lift them into components.
  const toSchema = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
    const { $schema: _ignored, $defs, ...rest } = z.toJSONSchema(schema, { io, target: "draft-2020-12" }) as JsonSchema;
    for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) components[name] = def;
    return JSON.parse(JSON.stringify(rest).replaceAll("#/$defs/", "#/components/schemas/"));
  };
  /** An error response with one example per message the status can carry. */
  const errorResponse = (description: string) => {
    const messages = description.split(" | ");
    return {
      description,
      content: {
        "application/json": {
          schema: { $ref: "#/components/schemas/Error" },
          examples: Object.fromEntries(
            messages.map((message) => [exampleName(message), { summary: message, value: { message } }]),
          ),
        },
      },
    };
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of restRoutes) {
    const examples = examplesFor(route, serverUrl);
    const parameters: unknown[] = [];
    if (route.input.pathId) {
      parameters.push({
        name: "id",
        in: "path",
        required: true,
        schema: { type: "integer", minimum: 1 },
        example: 6,
      });
    }
    if (route.input.pathParam) {
      parameters.push({
        name: route.input.pathParam.name,
        in: "path",
        required: true,
        schema: route.input.pathParam.schema,
      });
    }
    for (const param of route.input.pathParams ?? []) {
      parameters.push({ name: param.name, in: "path", required: true, schema: param.schema, example: param.example });
    }
    if (route.input.query) {
      const query = toSchema(route.input.query, "input") as { properties: Record<string, JsonSchema> };
      const queryExamples: Record<string, unknown> = { status: "paid", limit: 20, cursor: "cDo1" };
      for (const [name, schema] of Object.entries(query.properties)) {
        const { description, ...rest } = schema;
        parameters.push({
          name,
          in: "query",
          required: false,
          description,
          schema: rest,
          example: queryExamples[name],
        });
      }
    }
    if (route.procedure === "payments.create" || route.procedure === "refunds.create") {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        description:
          "Same key and body (amount and order): the first response, nothing created; another body: 422. " +
          "Kept at least 24 h.",
        schema: { type: "string", minLength: 1, maxLength: 255 },
        example: "order-1234",
      });
    }
    const success = route.successStatus ?? 200;
    const described = { 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content" }[success];
    const responses: Record<string, unknown> = {
      [success]:
        success === 204
          ? { description: described }
          : {
              description: described,
              content: {
                "application/json": { schema: toSchema(route.output, "output"), example: examples.response },
              },
            },
    };
    for (const [status, message] of Object.entries(route.errors)) responses[status] = errorResponse(message);
    responses["500"] = { $ref: "#/components/responses/InternalError" };

    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.path === "/payments/pix" ? "createPixPayment" : route.procedure.replace(".", "_"),
      summary: route.summary,
      description: `Runs the tRPC procedure \`${route.procedure}\`.`,
      security:
        route.security === "merchant"
          ? [{ apiKey: [] }]
          : route.security === "psp"
            ? [{ webhookId: [], webhookTimestamp: [], webhookSignature: [] }, { pspToken: [] }]
            : [{ webhookId: [], webhookTimestamp: [], webhookSignature: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(route.input.body
        ? {
            requestBody: {
              required: true,
              content: {
                "application/json": { schema: toSchema(route.input.body, "input"), example: examples.request },
              },
            },
          }
        : {}),
      responses,
    };
  }

  const plain = (description: string, properties: Record<string, JsonSchema>, example: Record<string, unknown>) => ({
    description,
    content: {
      "application/json": {
        schema: { type: "object", properties, required: Object.keys(properties) },
        example,
      },
    },
  });
  const readiness = { status: { type: "string" }, database: { type: "boolean" }, bus: { type: "boolean" } };
  paths["/healthz"] = {
    get: {
      operationId: "healthz",
      summary: "Liveness",
      security: [],
      responses: { 200: plain("Alive", { status: { type: "string" } }, { status: "ok" }) },
    },
  };
  paths["/readyz"] = {
    get: {
      operationId: "readyz",
      summary: "Readiness: the database (and Redis, when configured) answer",
      security: [],
      responses: {
        200: plain("Ready", readiness, { status: "ready", database: true, bus: true }),
        503: plain("Not ready", readiness, { status: "unavailable", database: true, bus: false }),
      },
    },
  };

  const generic = (description: string, message: string, headers?: Record<string, unknown>) => ({
    description,
    ...(headers ? { headers } : {}),
    content: { "application/json": { schema: { $ref: "#/components/schemas/Error" }, example: { message } } },
  });

  // CONTRACT §10: what the service POSTs to each merchant webhook endpoint (OpenAPI 3.1 `webhooks`).
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  components.WebhookEvent = {
    type: "object",
    description: "A merchant webhook delivery's body: the payment (and, for refund.* events, the refund) at the event",
    properties: {
      type: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] },
      timestamp: { type: "string", format: "date-time" },
      data: { type: "object", properties: { payment: ref("Payment"), refund: ref("Refund") }, required: ["payment"] },
    },
    required: ["type", "timestamp", "data"],
  };
  const deliveryHeaders = {
    "webhook-id": "The event id (evt_…): the same on every attempt, so deduplicate by it",
    "webhook-timestamp": "Unix seconds of this attempt",
    "webhook-signature":
      'v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>"> keyed with the endpoint\'s secret; ' +
      "for 24 h after a rotation, one per secret, space-separated",
  };
  const webhooks = {
    merchantEvent: {
      post: {
        summary: "A merchant webhook delivery (Standard Webhooks), to every endpoint that takes the event's type",
        parameters: Object.entries(deliveryHeaders).map(([name, description]) => {
          return { name, in: "header", required: true, description, schema: { type: "string" } };
        }),
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: ref("WebhookEvent"),
              example: {
                type: "payment.paid",
                timestamp: "2025-04-08T15:16:25.000Z",
                data: { payment: examplePayment(serverUrl, "paid") },
              },
            },
          },
        },
        responses: {
          "2XX": { description: "Delivered (any 2xx within 10 s)" },
          "410": { description: "Gone: the endpoint is disabled" },
          default: {
            description: "3xx, any other status, a timeout or no connection: retried on WEBHOOK_RETRY_SCHEDULE",
          },
        },
      },
    },
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "PIX Payment API",
      version: "1.0.0",
      description:
        "Real-time PIX payments. Amounts are reais with at most 2 decimals, stored as integer cents.\n\n" +
        "Every route may also answer with the responses under `components.responses`: a path that is not listed " +
        "here answers `404` (NotFound); a listed path asked with another method answers `405` (MethodNotAllowed) " +
        "with an `Allow` header; a body over 64 KiB `413`, a body that is not JSON `415`, and an unexpected failure " +
        "`500` without details.",
    },
    servers: [{ url: serverUrl }],
    security: [],
    paths,
    webhooks,
    components: {
      schemas: components,
      responses: {
        NotFound: generic("Unknown path (any method)", MESSAGES.notFound),
        MethodNotAllowed: generic("A documented path asked with a method it does not have", MESSAGES.methodNotAllowed, {
          Allow: {
            description: "The path's methods, e.g. `POST, GET`",
            schema: { type: "string" },
            example: "POST, GET",
          },
        }),
        PayloadTooLarge: generic("Body over 64 KiB", MESSAGES.bodyTooLarge),
        UnsupportedMediaType: generic("A Content-Type other than JSON", MESSAGES.unsupportedMediaType),
        InternalError: generic(
          "Unexpected failure (logged with the request id); never any detail",
          INTERNAL_ERROR_MESSAGE,
        ),
      },
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "A merchant API key (API_KEYS)" },
        webhookId: {
          type: "apiKey",
          in: "header",
          name: "webhook-id",
          description:
            "Standard Webhooks (https://www.standardwebhooks.com/): the message id. An id already applied is not " +
            "applied again (200, nothing changes); one already used for another payment answers 409.",
        },
        webhookTimestamp: {
          type: "apiKey",
          in: "header",
          name: "webhook-timestamp",
          description: "Standard Webhooks: Unix seconds; more than 5 minutes from the server's clock is refused (401).",
        },
        webhookSignature: {
          type: "apiKey",
          in: "header",
          name: "webhook-signature",
          description:
            'Standard Webhooks: `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">`, keyed ' +
            "with the base64-decoded part of WEBHOOK_SECRET after `whsec_`; several signatures may be sent, " +
            "space-separated. Any failure answers 401 Invalid signature.",
        },
        pspToken: {
          type: "apiKey",
          in: "query",
          name: "token",
          description:
            "PSP_WEBHOOK_TOKEN, compared in constant time: for a PSP that cannot sign its Pix callbacks " +
            "(POST /webhooks/pix only; mTLS belongs at the proxy).",
        },
      },
    },
  };
}
