/**
 * Waiting for another process or server to reach a state: poll a condition
 * until it holds, within a bounded deadline, instead of sleeping for a guessed
 * time. It runs on the real clock (fake timers cannot speed up ZooKeeper or a
 * child process); for timers of the test's own process use vi.useFakeTimers().
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitForOptions {
  /** What is awaited, for the timeout message. */
  readonly what?: string;
  /** Give up after this long; default 20 s. */
  readonly timeoutMs?: number;
  /** Pause between two polls; default 100 ms. */
  readonly intervalMs?: number;
}

/**
 * Resolves with the first value of `condition` other than `undefined` and
 * `false`, polling every `intervalMs`. A condition that throws counts as not
 * met yet; its last error is quoted if the deadline passes.
 */
export async function waitFor<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitForOptions = {},
): Promise<T> {
  const { what = 'the condition', timeoutMs = 20_000, intervalMs = 100 } = options;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline) {
      const cause =
        lastError === undefined
          ? ''
          : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await delay(intervalMs);
  }
}
