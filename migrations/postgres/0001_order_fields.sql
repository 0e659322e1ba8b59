ALTER TABLE "payments" ADD COLUMN "description" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "metadata" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "return_url" text;