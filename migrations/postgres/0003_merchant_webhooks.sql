CREATE TABLE "endpoint_deliveries" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"endpoint_id" text NOT NULL,
	"event_id" text NOT NULL,
	"status" text NOT NULL,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"last_status_code" bigint,
	"last_error" text,
	"next_attempt_at" bigint,
	"lease_until" bigint DEFAULT 0 NOT NULL,
	"lease_token" text,
	"created_at" bigint NOT NULL,
	"delivered_at" bigint,
	CONSTRAINT "endpoint_deliveries_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "webhook_endpoints" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"url" text NOT NULL,
	"events" text NOT NULL,
	"description" text,
	"enabled" boolean DEFAULT true NOT NULL,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_until" bigint,
	"created_at" bigint NOT NULL,
	CONSTRAINT "webhook_endpoints_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "endpoint_deliveries" ADD CONSTRAINT "endpoint_deliveries_endpoint_id_webhook_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."webhook_endpoints"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "endpoint_deliveries" ADD CONSTRAINT "endpoint_deliveries_event_id_webhook_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."webhook_events"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "endpoint_deliveries_endpoint_idx" ON "endpoint_deliveries" USING btree ("endpoint_id","seq");--> statement-breakpoint
CREATE INDEX "endpoint_deliveries_due_idx" ON "endpoint_deliveries" USING btree ("next_attempt_at");--> statement-breakpoint
CREATE INDEX "endpoint_deliveries_event_idx" ON "endpoint_deliveries" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "endpoint_deliveries_delivered_idx" ON "endpoint_deliveries" USING btree ("delivered_at");--> statement-breakpoint
CREATE INDEX "webhook_events_created_idx" ON "webhook_events" USING btree ("created_at");