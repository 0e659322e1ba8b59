import { expect, test } from "bun:test";
import { databaseUrlForProcess, queryDatabase } from "./backend.ts";
import { merchantHeaders, spawnServer, tempDir } from "./harness.ts";

test("SIGTERM lets an in-flight request finish: a create whose body is still arriving completes and is kept", async () => {
  const tmp = tempDir();
  const file = `${tmp.dir}/inflight.sqlite`;
  const server = await spawnServer({ DATABASE_URL: file });
  try {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let sentFirstHalf!: () => void;
    const firstHalfSent = new Promise<void>((r) => (sentFirstHalf = r));
    const encoder = new TextEncoder();
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (step === 0) {
          controller.enqueue(encoder.encode('{"value":'));
          step = 1;
          sentFirstHalf();
        } else if (step === 1) {
          await released;
          controller.enqueue(encoder.encode("42.5}"));
          step = 2;
        } else controller.close();
      },
    });
    const response = fetch(`${server.url}/payments`, { method: "POST", headers: merchantHeaders(), body });
    await firstHalfSent;
    await Bun.sleep(200); // the request has reached the server's handler and waits for the rest of its body
    server.proc.kill("SIGTERM");
    await Bun.sleep(300);
    expect(server.proc.exitCode).toBeNull(); // still serving the request in flight
    release();
    const res = await response;
    expect(res.status).toBe(200);
    const created = ((await res.json()) as any).payment;
    expect(created.value).toBe(42.5);
    expect(await server.proc.exited).toBe(0);
    const rows = await queryDatabase(
      databaseUrlForProcess(file, tmp.dir),
      "SELECT amount_cents FROM payments WHERE id = ?",
      created.id,
    );
    expect(rows[0]).toEqual({ amount_cents: 4250 });
  } finally {
    await server.stop("SIGKILL");
    tmp.cleanup();
  }
}, 30_000);
