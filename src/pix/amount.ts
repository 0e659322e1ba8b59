/**
 * Amounts as Pix writes them: reais with exactly two decimals and a dot ("254.30"), as BR Code field 54
 * and the Banco Central's API Pix (`valor`) both do.
 */
export function formatPixAmount(cents: number): string {
  const whole = Math.floor(cents / 100);
  const frac = cents % 100;
  return `${whole}.${frac.toString().padStart(2, "0")}`;
}
