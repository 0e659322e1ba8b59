import { describe, expect, test } from "bun:test";
import { centsToReais, formatCentsPlain, MAX_CENTS, reaisToCents } from "../src/payments/money.ts";

describe("reaisToCents", () => {
  test.each([
    [254.3, 25430],
    [10, 1000],
    [0.01, 1],
    [0.1, 10],
    [0.29, 29],
    [1.01, 101],
    [1.15, 115], // 1.15 * 100 is 114.99999999999999 in floating point
    [9999999999.99, MAX_CENTS],
    [123456.78, 12345678],
  ])("%p reais is %p cents", (value, cents) => {
    expect(reaisToCents(value)).toBe(cents);
  });

  test("254.3 and 254.30 are the same amount", () => {
    expect(reaisToCents(JSON.parse("254.30"))).toBe(reaisToCents(JSON.parse("254.3")));
  });

  test.each([
    ["0.1 + 0.2", 0.1 + 0.2],
    ["three decimals", 1.001],
    ["zero", 0],
    ["negative", -5],
    ["negative zero", -0],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["above the maximum", 10_000_000_000],
    ["huge", 1e21],
    ["tiny", 1e-7],
    ["just above the maximum", 9999999999.991],
    ["a string", "10.00"],
    ["null", null],
    ["a boolean", true],
    ["an object", { value: 1 }],
  ])("refuses %s", (_label, value) => {
    expect(reaisToCents(value)).toBeNull();
  });
});

describe("cents back to reais", () => {
  test("centsToReais is the inverse for every cent of a range", () => {
    for (let cents = 1; cents <= 100_000; cents++) expect(reaisToCents(centsToReais(cents))).toBe(cents);
  });
  test("formatCentsPlain always has two decimals", () => {
    expect(formatCentsPlain(25430)).toBe("254.30");
    expect(formatCentsPlain(1)).toBe("0.01");
    expect(formatCentsPlain(MAX_CENTS)).toBe("9999999999.99");
  });
});
