import { z } from "zod";
import { INTERNAL_ERROR_MESSAGE } from "../messages.ts";
import { restRoutes } from "./rest.ts";

type JsonSchema = Record<string, unknown>;

/** Builds the OpenAPI 3.1 document of every REST route from the same zod schemas the procedures use. */
export function buildOpenApiDocument(serverUrl: string): Record<string, unknown> {
  const components: Record<string, JsonSchema> = {
    Error: {
      type: "object",
      properties: { message: { type: "string" } },
      required: ["message"],
      description: "Every error body; extra fields (detail, issues) may be present.",
    },
  };

  // zod puts schemas with a meta id (Payment) in $defs; lift them into components.
  const toSchema = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
    const { $schema: _ignored, $defs, ...rest } = z.toJSONSchema(schema, { io, target: "draft-2020-12" }) as JsonSchema;
    for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) components[name] = def;
    return JSON.parse(JSON.stringify(rest).replaceAll("#/$defs/", "#/components/schemas/"));
  };
  const errorResponse = (description: string) => ({
    description,
    content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
  });

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of restRoutes) {
    const parameters: unknown[] = [];
    if (route.input.pathId) {
      parameters.push({ name: "id", in: "path", required: true, schema: { type: "integer", minimum: 1 } });
    }
    if (route.input.pathParam) {
      parameters.push({
        name: route.input.pathParam.name,
        in: "path",
        required: true,
        schema: route.input.pathParam.schema,
      });
    }
    if (route.input.query) {
      const query = toSchema(route.input.query, "input") as { properties: Record<string, JsonSchema> };
      for (const [name, schema] of Object.entries(query.properties)) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: "query", required: false, description, schema: rest });
      }
    }
    if (route.procedure === "payments.create" || route.procedure === "refunds.create") {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        description: "Same key and body: the first response, nothing created. Kept at least 24 h.",
        schema: { type: "string", minLength: 1, maxLength: 255 },
      });
    }
    if (route.security === "webhook" || route.security === "psp") {
      for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
        parameters.push({ name, in: "header", required: route.security === "webhook", schema: { type: "string" } });
      }
    }
    if (route.security === "psp") {
      parameters.push({
        name: "token",
        in: "query",
        required: false,
        description: "PSP_WEBHOOK_TOKEN, for a PSP that cannot sign (instead of the webhook-* headers)",
        schema: { type: "string" },
      });
    }
    const success = route.successStatus ?? 200;
    const responses: Record<string, unknown> = {
      [success]: {
        description: success === 201 ? "Created" : "OK",
        content: { "application/json": { schema: toSchema(route.output, "output") } },
      },
    };
    for (const [status, message] of Object.entries(route.errors)) responses[status] = errorResponse(message);
    responses["500"] = errorResponse(INTERNAL_ERROR_MESSAGE);

    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.path === "/payments/pix" ? "createPixPayment" : route.procedure.replace(".", "_"),
      summary: route.summary,
      description: `Runs the tRPC procedure \`${route.procedure}\`.`,
      security: route.security === "merchant" ? [{ apiKey: [] }] : [],
      ...(parameters.length ? { parameters } : {}),
      ...(route.input.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: toSchema(route.input.body, "input") } },
            },
          }
        : {}),
      responses,
    };
  }

  const plain = (description: string) => ({
    description,
    content: { "application/json": { schema: { type: "object" } } },
  });
  paths["/healthz"] = { get: { operationId: "healthz", summary: "Liveness", responses: { 200: plain("Alive") } } };
  paths["/readyz"] = {
    get: {
      operationId: "readyz",
      summary: "Readiness: the database (and Redis, when configured) answer",
      responses: { 200: plain("Ready"), 503: plain("Not ready") },
    },
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "PIX Payment API",
      version: "1.0.0",
      description: "Real-time PIX payments. Amounts are reais with at most 2 decimals, stored as integer cents.",
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas: components,
      securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "A merchant API key (API_KEYS)" } },
    },
  };
}
