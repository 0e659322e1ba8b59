import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * Writes one benchmark's section of a report file: the text between `<!-- name:start -->` and
 * `<!-- name:end -->` (both included in `section`) replaces the old one, or is appended when there is none.
 * Returns the old section ("" when there was none), for a caller that keeps a hand-written part of it.
 */
export function replaceSection(file: string, name: string, section: string | ((old: string) => string)): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const at = text.indexOf(start);
  const to = text.indexOf(end);
  const old = at >= 0 && to > at ? text.slice(at, to + end.length) : "";
  const fresh = typeof section === "function" ? section(old) : section;
  writeFileSync(
    file,
    old ? text.slice(0, at) + fresh + text.slice(to + end.length) : `${text.trimEnd()}\n\n${fresh}\n`,
  );
  return old;
}
