ALTER TABLE `payments` ADD `description` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `metadata` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `return_url` text;