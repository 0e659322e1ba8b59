CREATE TABLE `received_pix` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`end_to_end_id` text NOT NULL,
	`txid` text,
	`amount_cents` integer NOT NULL,
	`received_at` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	`payer_info` text,
	`status` text NOT NULL,
	`reason` text,
	`payment_id` integer,
	`refunded_cents` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`payment_id`) REFERENCES `payments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `received_pix_end_to_end_id_unique` ON `received_pix` (`end_to_end_id`);--> statement-breakpoint
CREATE INDEX `received_pix_status_id_idx` ON `received_pix` (`status`,`id`);--> statement-breakpoint
CREATE TABLE `refund_idempotency_keys` (
	`merchant` text NOT NULL,
	`key` text NOT NULL,
	`request_hash` text NOT NULL,
	`refund_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`merchant`, `key`),
	FOREIGN KEY (`refund_id`) REFERENCES `refunds`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `refund_idempotency_keys_created_idx` ON `refund_idempotency_keys` (`created_at`);--> statement-breakpoint
CREATE TABLE `refund_outbox` (
	`refund_id` text PRIMARY KEY NOT NULL,
	`phase` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`lease_until` integer DEFAULT 0 NOT NULL,
	`lease_token` text,
	`last_error` text,
	FOREIGN KEY (`refund_id`) REFERENCES `refunds`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `refund_outbox_due_idx` ON `refund_outbox` (`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `refunds` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`payment_id` integer NOT NULL,
	`end_to_end_id` text,
	`amount_cents` integer NOT NULL,
	`reason` text,
	`status` text NOT NULL,
	`failure_reason` text,
	`rtr_id` text,
	`created_at` integer NOT NULL,
	`settled_at` integer,
	FOREIGN KEY (`payment_id`) REFERENCES `payments`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "refunds_amount_positive" CHECK("refunds"."amount_cents" > 0)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `refunds_id_unique` ON `refunds` (`id`);--> statement-breakpoint
CREATE INDEX `refunds_payment_idx` ON `refunds` (`payment_id`,`seq`);--> statement-breakpoint
ALTER TABLE `payments` ADD `txid` text GENERATED ALWAYS AS (substr(replace(bank_payment_id, '-', ''), 1, 25)) VIRTUAL;--> statement-breakpoint
ALTER TABLE `payments` ADD `end_to_end_id` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `refund_reserved_cents` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `payments` ADD `refunded_cents` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `payments_txid_idx` ON `payments` (`txid`);--> statement-breakpoint
CREATE UNIQUE INDEX `payments_end_to_end_id_unique` ON `payments` (`end_to_end_id`);