/** What one message costs a connection's bucket: served, refused (answered with an error), or a flood. */
export type RateVerdict = "ok" | "refused" | "flooding";

export interface MessageRate {
  /** Tokens refilled per second (the sustained rate). */
  perSecond: number;
  /** Bucket size: how many messages may arrive at once. */
  burst: number;
}

/**
 * A per-connection token bucket. A message takes a token; without one it is refused, and a connection that
 * sends `burst` more messages in a row while refused is flooding (its socket is closed with 1008). Time is
 * given (milliseconds), so tests need no sleeping.
 */
export function createMessageBucket(rate: MessageRate, now: () => number) {
  let tokens = rate.burst;
  let last = now();
  let refusedInARow = 0;
  return {
    take(): RateVerdict {
      const t = now();
      tokens = Math.min(rate.burst, tokens + ((t - last) / 1000) * rate.perSecond);
      last = t;
      if (tokens >= 1) {
        tokens--;
        refusedInARow = 0;
        return "ok";
      }
      return ++refusedInARow > rate.burst ? "flooding" : "refused";
    },
  };
}

export type MessageBucket = ReturnType<typeof createMessageBucket>;
