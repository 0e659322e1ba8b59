/** Time source, injected so expiry is testable without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** Source of new identifiers, injected so tests can predict them. */
export interface Ids {
  uuid(): string;
}

export const systemClock: Clock = { now: () => Date.now() };
export const randomIds: Ids = { uuid: () => crypto.randomUUID() };
