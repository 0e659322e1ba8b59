/**
 * Amounts as Pix writes them: reais with exactly two decimals and a dot ("254.30"), as BR Code field 54
 * and the Banco Central's API Pix (`valor`) both do.
 */
export function formatPixAmount(cents: number): string {
  const whole = Math.floor(cents / 100);
  const frac = cents % 100;
  return `${whole}.${frac.toString().padStart(2, "0")}`;
}

/** The largest `valor` the API Pix writes: `\d{1,10}\.\d{2}`. */
const PIX_AMOUNT = /^(\d{1,10})\.(\d{2})$/;

/** Reads an API Pix `valor` ("254.30") as integer cents; null for anything else ("254.3", "1e2", " 1.00"). */
export function parsePixAmount(valor: string): number | null {
  const match = PIX_AMOUNT.exec(valor);
  if (!match) return null;
  return Number(match[1]) * 100 + Number(match[2]);
}
