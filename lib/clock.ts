/**
 * The one clock of the product: every use case, handler and loop takes a
 * `Clock` from the App instead of reading the system time itself, so tests
 * and replays control time and no module drifts from the others.
 */
export type Clock = () => number;

/** Epoch milliseconds from the system: the only read of the wall clock in lib/. */
export const systemClock: Clock = () => Date.now();
