import { formatPixAmount } from "./amount.ts";

/**
 * PIX BR Code (EMV QRCPS-MPM) builder, per the Banco Central do Brasil's
 * "Manual de Padrões para Iniciação do Pix".
 */

/** CRC16-CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR. */
export function crc16ccitt(input: string): string {
  let crc = 0xffff;
  const bytes = new TextEncoder().encode(input);
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

function field(id: string, value: string): string {
  if (value.length > 99) throw new RangeError(`BR Code field ${id} is longer than 99 characters`);
  return id + value.length.toString().padStart(2, "0") + value;
}

/**
 * Makes free text safe for the EMV "ans" fields 59 and 60: accents removed, only printable ASCII kept,
 * spaces collapsed, cut to the field's maximum length. Never returns an empty string.
 */
export function normalizeEmvText(text: string, maxLength: number): string {
  const ascii = text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^\x20-\x7E]/g, "")
    .replace(/\s+/g, " ")
    .trim();
  const cut = ascii.slice(0, maxLength).trim();
  return cut.length > 0 ? cut : "NA";
}

/** A txid for field 62/05: up to 25 ASCII letters and digits (the manual's limit for static codes). */
export function txidFromUuid(uuid: string): string {
  return uuid.replace(/[^A-Za-z0-9]/g, "").slice(0, 25);
}

export interface BrCodeInput {
  pixKey: string;
  merchantName: string;
  merchantCity: string;
  /** Amount in cents (field 54); omitted when the payer chooses the amount. */
  amountCents?: number;
  /** Field 62/05; "***" when the receiver does not reconcile by txid. */
  txid?: string;
  /** Field 01: "12" marks a code meant to be paid once. Omitted in the manual's plain static example. */
  pointOfInitiation?: "11" | "12";
}

/** Builds a static PIX BR Code ("copia e cola") with its CRC. */
export function buildBrCode(input: BrCodeInput): string {
  const txid = input.txid ?? "***";
  if (txid !== "***" && !/^[A-Za-z0-9]{1,25}$/.test(txid)) {
    throw new RangeError("txid must be 1 to 25 letters and digits");
  }
  const amount = input.amountCents === undefined ? "" : field("54", formatPixAmount(input.amountCents));
  const payload =
    field("00", "01") +
    (input.pointOfInitiation ? field("01", input.pointOfInitiation) : "") +
    field("26", field("00", "br.gov.bcb.pix") + field("01", input.pixKey)) +
    field("52", "0000") +
    field("53", "986") +
    amount +
    field("58", "BR") +
    field("59", normalizeEmvText(input.merchantName, 25)) +
    field("60", normalizeEmvText(input.merchantCity, 15)) +
    field("62", field("05", txid)) +
    "6304";
  return payload + crc16ccitt(payload);
}
