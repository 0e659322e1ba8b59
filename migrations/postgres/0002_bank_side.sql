CREATE TABLE "received_pix" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"end_to_end_id" text NOT NULL,
	"txid" text,
	"amount_cents" bigint NOT NULL,
	"received_at" bigint NOT NULL,
	"recorded_at" bigint NOT NULL,
	"payer_info" text,
	"status" text NOT NULL,
	"reason" text,
	"payment_id" bigint,
	"refunded_cents" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "received_pix_end_to_end_id_unique" UNIQUE("end_to_end_id")
);
--> statement-breakpoint
CREATE TABLE "refund_idempotency_keys" (
	"merchant" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"refund_id" text NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "refund_idempotency_keys_merchant_key_pk" PRIMARY KEY("merchant","key")
);
--> statement-breakpoint
CREATE TABLE "refund_outbox" (
	"refund_id" text PRIMARY KEY NOT NULL,
	"phase" text NOT NULL,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"next_attempt_at" bigint NOT NULL,
	"lease_until" bigint DEFAULT 0 NOT NULL,
	"lease_token" text,
	"last_error" text
);
--> statement-breakpoint
CREATE TABLE "refunds" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"payment_id" bigint NOT NULL,
	"end_to_end_id" text,
	"amount_cents" bigint NOT NULL,
	"reason" text,
	"status" text NOT NULL,
	"failure_reason" text,
	"rtr_id" text,
	"created_at" bigint NOT NULL,
	"settled_at" bigint,
	CONSTRAINT "refunds_id_unique" UNIQUE("id"),
	CONSTRAINT "refunds_amount_positive" CHECK ("refunds"."amount_cents" > 0)
);
--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "txid" text GENERATED ALWAYS AS (substr(replace(bank_payment_id, '-', ''), 1, 25)) STORED;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "end_to_end_id" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "refund_reserved_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "refunded_cents" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "received_pix" ADD CONSTRAINT "received_pix_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refund_idempotency_keys" ADD CONSTRAINT "refund_idempotency_keys_refund_id_refunds_id_fk" FOREIGN KEY ("refund_id") REFERENCES "public"."refunds"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refund_outbox" ADD CONSTRAINT "refund_outbox_refund_id_refunds_id_fk" FOREIGN KEY ("refund_id") REFERENCES "public"."refunds"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "received_pix_status_id_idx" ON "received_pix" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "refund_idempotency_keys_created_idx" ON "refund_idempotency_keys" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "refund_outbox_due_idx" ON "refund_outbox" USING btree ("next_attempt_at");--> statement-breakpoint
CREATE INDEX "refunds_payment_idx" ON "refunds" USING btree ("payment_id","seq");--> statement-breakpoint
CREATE INDEX "payments_txid_idx" ON "payments" USING btree ("txid");--> statement-breakpoint
CREATE UNIQUE INDEX "payments_end_to_end_id_unique" ON "payments" USING btree ("end_to_end_id");