/** A step that waits for one query: the write's generator yields the promise and is resumed with its rows. */
export function* query<T>(run: () => Promise<T>): Generator<unknown, T, unknown> {
  return (yield run()) as T;
}
