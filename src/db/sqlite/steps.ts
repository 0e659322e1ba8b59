import type { Step } from "../../payments/repository.ts";

/** A step that is already done: bun:sqlite answers synchronously, so a SQLite write never waits. */
export function done<T>(value: T): Step<T> {
  return { [Symbol.iterator]: () => ({ next: () => ({ done: true, value }) }) };
}
