/**
 * A real HTTP receiver for merchant webhooks (Bun.serve on 127.0.0.1, port 0) with programmable answers:
 * every request is kept with its headers and raw body, and `answer` decides each response (200 unless set).
 */
export interface ReceivedDelivery {
  headers: Record<string, string>;
  body: string;
  json: { type: string; timestamp: string; data: Record<string, any> };
  at: number;
}

export function startReceiver(answer?: (req: ReceivedDelivery, n: number) => Response | Promise<Response>) {
  const received: ReceivedDelivery[] = [];
  const waiters: Array<() => void> = [];
  const receiver = {
    answer,
    received,
    url: "",
    /** Resolves once `n` requests have arrived (rejects after `timeoutMs`). */
    async waitFor(n: number, timeoutMs = 10_000): Promise<ReceivedDelivery[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} of ${n} deliveries`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return received.slice(0, n);
    },
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = await req.text();
      let json: ReceivedDelivery["json"];
      try {
        json = JSON.parse(body);
      } catch {
        json = { type: "", timestamp: "", data: {} };
      }
      const entry: ReceivedDelivery = { headers: Object.fromEntries(req.headers), body, json, at: Date.now() };
      received.push(entry);
      for (const wake of waiters.splice(0)) wake();
      return receiver.answer ? receiver.answer(entry, received.length) : new Response("ok");
    },
  });
  receiver.url = `http://127.0.0.1:${server.port}/hook`;
  return receiver;
}

export type Receiver = ReturnType<typeof startReceiver>;
