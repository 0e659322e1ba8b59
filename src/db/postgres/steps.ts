import type { SQL } from "bun";

/** What runs a statement: the pool, or one transaction's connection. */
export type Runner = Pick<SQL, "unsafe">;

/**
 * How a step may run (see `drive` in payment-repository.ts):
 * - `read`: one or more SELECTs; outside a transaction until the write's first change (READ COMMITTED reads the
 *   latest committed state either way, so the result is the same);
 * - `write`: changes data; the write's transaction begins at the first one;
 * - `final`: one statement that makes all of its write's changes at once: when no transaction has begun it
 *   runs by itself (autocommit), which saves the transaction's round trips. After a final step that changed
 *   something, its write may only read and return (a later change could not commit with it).
 */
export type StepKind = "read" | "write" | "final";

/** What a PostgreSQL step yields to `drive`: its kind, and the work, run on the runner `drive` chooses. */
export interface PgStep<T> {
  kind: StepKind;
  run(runner: Runner): Promise<T>;
  /** For a final step: whether its result says it changed something (then no other change may follow). */
  changed?(result: T): boolean;
}

/** A step that changes data, inside its write's transaction. */
export function* query<T>(run: (runner: Runner) => Promise<T>): Generator<unknown, T, unknown> {
  return (yield { kind: "write", run } satisfies PgStep<T>) as T;
}

/** A step that only reads. */
export function* read<T>(run: (runner: Runner) => Promise<T>): Generator<unknown, T, unknown> {
  return (yield { kind: "read", run } satisfies PgStep<T>) as T;
}

/** A step that makes all of its write's changes in one statement (autocommit when it is the only change). */
export function* final<T>(
  run: (runner: Runner) => Promise<T>,
  changed: (result: T) => boolean,
): Generator<unknown, T, unknown> {
  return (yield { kind: "final", run, changed } satisfies PgStep<T>) as T;
}
