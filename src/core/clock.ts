/** Milliseconds since the epoch. Injected everywhere time matters, so tests never wait. */
export type Clock = () => number;

/** The real clock. */
export const systemClock: Clock = () => Date.now();
