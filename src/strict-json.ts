/**
 * The one JSON reader of every request body and socket frame. `JSON.parse` takes the last of two equal keys
 * (another parser may take the first) and reads `254.3000000000000001` as 254.3, so a signed body could say
 * one thing to us and another to whoever signed it. This reader refuses both: a duplicate key anywhere, and a
 * number literal whose value is not exactly the number a double holds for it (the literal and the double's
 * shortest decimal form must be the same decimal). `254.30`, `254.3` and `2.543e2` are all 254.3 exactly.
 */

/** A body or frame that is not strict JSON: it fails every input schema, with `reason` as the detail. */
export class MalformedJson extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "MalformedJson";
  }
}

export type StrictJsonResult = { ok: true; value: unknown } | { ok: false; error: MalformedJson };

/** Parses `text` as JSON, refusing invalid JSON, duplicate keys and numbers a double cannot hold as written. */
export function parseStrictJson(text: string): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: new MalformedJson("Body is not valid JSON") };
  }
  const problem = ambiguityOf(text);
  return problem === null ? { ok: true, value } : { ok: false, error: problem };
}

/**
 * For text JSON.parse has accepted: the first duplicate key or inexact number in it, or null. For callers
 * that leave syntax errors to someone else (tRPC answers its own parse errors).
 */
export function ambiguityOf(validJson: string): MalformedJson | null {
  const problem = findAmbiguity(validJson);
  return problem === null ? null : new MalformedJson(problem);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Walks text that JSON.parse has accepted (so its syntax is known to be valid) and returns the first
 * duplicate key or inexact number it finds, described for the caller, or null.
 */
function findAmbiguity(text: string): string | null {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: Array<Set<string> | null> = [];
  let keyNext = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i + 1;
      let escaped = false;
      for (; end < n; end++) {
        const d = text.charCodeAt(end);
        if (d === BACKSLASH) {
          escaped = true;
          end++;
        } else if (d === QUOTE) break;
      }
      if (keyNext) {
        const key = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return `Duplicate key: ${shorten(key)}`;
        keys.add(key);
        keyNext = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      keyNext = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      keyNext = stack[stack.length - 1] != null;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < n && isNumberChar(text.charCodeAt(end))) end++;
      const literal = text.slice(i, end);
      if (!isExact(literal)) return `Number cannot be read exactly: ${shorten(literal)}`;
      i = end - 1;
    }
  }
  return null;
}

const isNumberChar = (c: number) =>
  (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

const shorten = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

/**
 * True when the literal's decimal value is the double's: the same decimal as the shortest form that reads
 * back to that double. Up to 15 significant digits without an exponent always is (a double holds 15).
 */
function isExact(literal: string): boolean {
  if (literal.length <= 16 && !/[eE]/.test(literal) && significantDigits(literal) <= 15) return true;
  const value = Number(literal);
  if (!Number.isFinite(value)) return false;
  return canonicalDecimal(literal) === canonicalDecimal(String(value));
}

function significantDigits(literal: string): number {
  const digits = literal.replace(/[-.]/g, "").replace(/^0+/, "");
  return digits.length;
}

/** A decimal as `<digits>e<exponent>` with no leading or trailing zeros, so equal values compare equal. */
function canonicalDecimal(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return `not a number: ${text}`;
  const fraction = m[3] ?? "";
  let digits = (m[2]! + fraction).replace(/^0+/, "");
  if (digits === "") return "0";
  let exponent = Number(m[4] ?? "0") - fraction.length;
  const trimmed = digits.replace(/0+$/, "");
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  return `${m[1]}${digits}e${exponent}`;
}
