/**
 * A background pass that runs one at a time: a call while a run is under way gets that run's promise and asks for
 * one more run after it, however many calls came meanwhile. An error goes to `onError`; the promise resolves.
 * The merchant-webhook dispatcher and the refund sender drain their outboxes this way.
 */
export function coalesced(work: () => Promise<void>, onError: (err: unknown) => void) {
  let current: Promise<void> | null = null;
  let rerun = false;
  return {
    run(): Promise<void> {
      if (current) {
        rerun = true;
        return current;
      }
      current = (async () => {
        try {
          do {
            rerun = false;
            await work();
          } while (rerun);
        } catch (err) {
          onError(err);
        } finally {
          current = null;
        }
      })();
      return current;
    },
    /** The run under way, if any. */
    running: (): Promise<void> | null => current,
  };
}
