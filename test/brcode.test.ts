import { describe, expect, test } from "bun:test";
import { hasError, parsePix } from "pix-utils";
import { buildBrCode, crc16ccitt, normalizeEmvText, txidFromUuid } from "../src/pix/brcode.ts";

const MANUAL_STATIC_EXAMPLE =
  "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

/** Splits a BR Code into its top-level EMV fields (id → value), checking every length prefix. */
function emvFields(code: string): Map<string, string> {
  const fields = new Map<string, string>();
  let i = 0;
  while (i < code.length) {
    const id = code.slice(i, i + 2);
    const len = Number(code.slice(i + 2, i + 4));
    expect(Number.isInteger(len)).toBe(true);
    fields.set(id, code.slice(i + 4, i + 4 + len));
    i += 4 + len;
  }
  expect(i).toBe(code.length);
  return fields;
}

describe("CRC16-CCITT-FALSE", () => {
  test("check value of '123456789' is 29B1", () => {
    expect(crc16ccitt("123456789")).toBe("29B1");
  });
  test("empty input is the initial value", () => {
    expect(crc16ccitt("")).toBe("FFFF");
  });
  test("the manual's example CRC covers everything up to and including 6304", () => {
    expect(crc16ccitt(MANUAL_STATIC_EXAMPLE.slice(0, -4))).toBe("1D3D");
  });
});

describe("buildBrCode", () => {
  test("reproduces the manual's static example byte for byte", () => {
    const code = buildBrCode({
      pixKey: "123e4567-e12b-12d1-a456-426655440000",
      merchantName: "Fulano de Tal",
      merchantCity: "BRASILIA",
    });
    expect(code).toBe(MANUAL_STATIC_EXAMPLE);
  });

  test("a payment's code carries amount (54), txid (62/05) and single-use (01=12), and pix-utils agrees", () => {
    const uuid = "ca2910ae-c4e8-44d3-b510-e573e9be9a58";
    const code = buildBrCode({
      pixKey: "123e4567-e12b-12d1-a456-426655440000",
      merchantName: "Loja Demo",
      merchantCity: "Sao Paulo",
      amountCents: 25430,
      txid: txidFromUuid(uuid),
      pointOfInitiation: "12",
    });
    const f = emvFields(code);
    expect(f.get("00")).toBe("01");
    expect(f.get("01")).toBe("12");
    expect(f.get("26")).toBe("0014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000");
    expect(f.get("52")).toBe("0000");
    expect(f.get("53")).toBe("986");
    expect(f.get("54")).toBe("254.30");
    expect(f.get("58")).toBe("BR");
    expect(f.get("62")).toBe("0525ca2910aec4e844d3b510e573e");
    expect(f.get("63")).toBe(crc16ccitt(code.slice(0, -4)));
    const parsed = parsePix(code);
    expect(hasError(parsed)).toBe(false);
    expect(parsed).toMatchObject({ type: "STATIC", transactionAmount: 254.3, txid: "ca2910aec4e844d3b510e573e" });
  });

  test("the largest amount fits field 54's 13 characters", () => {
    const code = buildBrCode({
      pixKey: "k@example.com",
      merchantName: "A",
      merchantCity: "B",
      amountCents: 999_999_999_999,
    });
    expect(emvFields(code).get("54")).toBe("9999999999.99");
    expect(hasError(parsePix(code))).toBe(false);
  });

  test("accented and over-long names and cities are normalised and cut, and the code stays valid", () => {
    const code = buildBrCode({
      pixKey: "123e4567-e12b-12d1-a456-426655440000",
      merchantName: "Padaria São João da Esquina Ltda — Filial Açaí",
      merchantCity: "São José dos Campos do Norte",
      amountCents: 1,
      txid: "ABC123",
    });
    const f = emvFields(code);
    expect(f.get("59")).toBe("Padaria Sao Joao da Esqui");
    expect(f.get("59")!.length).toBeLessThanOrEqual(25);
    expect(f.get("60")).toBe("Sao Jose dos Ca");
    expect(/^[\x20-\x7E]+$/.test(code)).toBe(true);
    const parsed = parsePix(code);
    expect(hasError(parsed)).toBe(false);
    expect(parsed).toMatchObject({ merchantName: "Padaria Sao Joao da Esqui", merchantCity: "Sao Jose dos Ca" });
  });

  test("text with nothing printable still yields a non-empty field", () => {
    expect(normalizeEmvText("日本", 25)).toBe("NA");
  });

  test("refuses a txid that is not 1 to 25 letters and digits", () => {
    expect(() => buildBrCode({ pixKey: "k", merchantName: "A", merchantCity: "B", txid: "a-b" })).toThrow(RangeError);
    expect(() => buildBrCode({ pixKey: "k", merchantName: "A", merchantCity: "B", txid: "x".repeat(26) })).toThrow(
      RangeError,
    );
  });

  test("txidFromUuid keeps 25 alphanumerics", () => {
    expect(txidFromUuid("ca2910ae-c4e8-44d3-b510-e573e9be9a58")).toBe("ca2910aec4e844d3b510e573e");
  });
});
