import { formatPixAmount } from "../pix/amount.ts";

/** Largest accepted amount: 9,999,999,999.99 reais, so BR Code field 54 fits its 13 characters. */
export const MAX_CENTS = 999_999_999_999;

/**
 * Converts the wire's decimal reais (a JSON number) to integer cents, exactly.
 * Works from the number's shortest decimal representation, so 254.3 and 254.30 are 25430 cents,
 * while 0.1 + 0.2 (0.30000000000000004) has more than 2 decimals and is refused.
 * Returns null for anything that is not a positive amount with at most 2 decimals within MAX_CENTS.
 */
export function reaisToCents(value: unknown): number | null {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) return null;
  const text = String(value);
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(text);
  if (!match) return null; // exponent notation, or more than 2 decimals
  const cents = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  if (!Number.isSafeInteger(cents) || cents <= 0 || cents > MAX_CENTS) return null;
  return cents;
}

/** Converts integer cents to the wire's decimal reais (254.3 for 25430). */
export function centsToReais(cents: number): number {
  return cents / 100;
}

/** Formats cents with exactly two decimals and a dot ("254.30"), as BR Code field 54 wants. */
export const formatCentsPlain = formatPixAmount;
