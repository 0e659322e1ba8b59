/**
 * The webhook event types of src/webhooks/events.ts (plain TypeScript, shipped in the client package) are
 * the wire shapes of src/payments/schema.ts (zod). The `Checks` below fail `npm run typecheck`
 * (tsc --noEmit -p .) when a field is added, removed, renamed, made optional or retyped on one side only;
 * CI runs no typecheck, so the test runs tsc on this file, and once more on a drifted copy to see it fail.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PaymentWire, RefundWire } from "../src/payments/schema.ts";
import type { WebhookEvent, WebhookPayment, WebhookRefund } from "../src/webhooks/events.ts";
import { BUN, ROOT } from "./harness.ts";

/** An object type's own properties as one object (zod infers intersections); keeps `?` and `readonly`. */
type Flat<T> = { [K in keyof T]: T[K] };
/**
 * true when A and B are the same type after flattening: mutual assignability would not do, it lets an
 * optional field equal a required one and `any` equal anything.
 */
export type Equal<A, B> =
  (<T>() => T extends Flat<A> ? 1 : 2) extends <T>() => T extends Flat<B> ? 1 : 2 ? true : false;
export type Expect<T extends true> = T;

export type Checks = [Expect<Equal<WebhookPayment, PaymentWire>>, Expect<Equal<WebhookRefund, RefundWire>>];

/** `type` discriminates the union: a refund event has its refund, a payment event has none. */
export function narrowing(event: WebhookEvent): RefundWire | PaymentWire {
  if (event.type === "refund.succeeded" || event.type === "refund.failed" || event.type === "refund.created") {
    return event.data.refund;
  }
  // @ts-expect-error a payment event carries no refund
  void event.data.refund;
  return event.data.payment;
}

const work = join(ROOT, ".tmp", `webhook-types-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** tsc with the repository's options on the given files only. */
async function typecheck(files: string[]) {
  mkdirSync(work, { recursive: true });
  const config = join(work, `tsconfig.${files.length}.json`);
  writeFileSync(config, JSON.stringify({ extends: "../../tsconfig.json", include: [], files }));
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  const proc = Bun.spawn([BUN, tsc, "--noEmit", "-p", config], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code, output: stdout + stderr };
}

test("tsc accepts this file: the plain event types equal the zod wire types", async () => {
  expect(await typecheck([join(ROOT, "test/webhook-events.types.test.ts")])).toEqual({ code: 0, output: "" });
}, 30_000);

test("and the same check rejects a drifted type (one field made optional)", async () => {
  const probe = join(work, "drift.ts");
  writeFileSync(
    probe,
    [
      `import type { PaymentWire } from "../../src/payments/schema.ts";`,
      `import type { WebhookPayment } from "../../src/webhooks/events.ts";`,
      `import type { Equal, Expect } from "../../test/webhook-events.types.test.ts";`,
      `type Drifted = Omit<WebhookPayment, "paid_at"> & { paid_at?: string | null };`,
      "export type Check = Expect<Equal<Drifted, PaymentWire>>;",
      "",
    ].join("\n"),
  );
  const r = await typecheck([probe]);
  expect(r.code).not.toBe(0);
  expect(r.output).toContain("drift.ts(5,");
  expect(r.output).toContain("TS2344");
}, 30_000);
