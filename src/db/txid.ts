import { sql } from "drizzle-orm";

/**
 * The SQL form of src/pix/brcode.ts `txidFromUuid` for the UUIDs we issue (hex digits and hyphens): the
 * hyphens dropped, the first 25 characters kept. Both dialects compute the payments' txid column with it,
 * so every payment, old rows included, can be found by the txid a received Pix carries.
 */
export const TXID_OF_BANK_PAYMENT_ID = sql`substr(replace(bank_payment_id, '-', ''), 1, 25)`;
