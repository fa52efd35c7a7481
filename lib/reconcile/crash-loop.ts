/**
 * Crash-loop back-off, the shape of Kubernetes' CrashLoopBackOff: after a recycle or a
 * replacement the instance's next one waits 10 s, then 20 s, 40 s … up to 5 min; the back-off
 * is dropped once the instance has stayed healthy for 10 min. Pure: lib/reconcile/decide.ts
 * says when an instance restarts and whether it is healthy, these rules what its record keeps.
 */
import type { InstanceRecord } from '../orchestration/types.js';

export type Backoff = InstanceRecord['backoff'];

/**
 * Kubernetes' kubelet numbers for a container that keeps failing: the first
 * wait, the longest, and how long the instance must stay healthy to start over.
 */
export const CRASH_LOOP_BACKOFF = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 } as const;

/** The wait after the `streak`-th restart in a row: 10 s, 20 s, 40 s … 5 min. */
export const backoffDelayMs = (streak: number): number =>
  Math.min(CRASH_LOOP_BACKOFF.initialMs * 2 ** Math.max(0, streak - 1), CRASH_LOOP_BACKOFF.maxMs);

const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/** Why the instance's next recycle or replacement must wait, or undefined when it may happen now. */
export function backoffWait(record: InstanceRecord | undefined, now: number): string | undefined {
  const backoff = record?.backoff;
  if (!backoff || now >= backoff.until) return undefined;
  const left = seconds(backoff.until - now);
  return `crash-loop back-off: ${left} left of ${seconds(backoff.delayMs)} after restart ${backoff.streak} in a row`;
}

/** The restart count and back-off a recycle or replacement leaves in the record. */
export function afterRestart(
  record: InstanceRecord | undefined,
  now: number,
): Pick<InstanceRecord, 'restarts' | 'backoff'> {
  const streak = (record?.backoff?.streak ?? 0) + 1;
  const delayMs = backoffDelayMs(streak);
  return { restarts: (record?.restarts ?? 0) + 1, backoff: { streak, delayMs, until: now + delayMs } };
}

/** The back-off as a run leaves it: healthy since when (a break starts that clock again), or gone after the reset. */
export function trackBackoff(backoff: Backoff, healthy: boolean, now: number): Backoff {
  if (!backoff) return undefined;
  if (!healthy) {
    const { healthySince: _broken, ...unhealthy } = backoff;
    return unhealthy;
  }
  const healthySince = backoff.healthySince ?? now;
  if (now - healthySince >= CRASH_LOOP_BACKOFF.resetAfterMs) return undefined;
  return { ...backoff, healthySince };
}

/** `record` with `backoff` set, or without the field when there is none. */
export function withBackoff(record: InstanceRecord, backoff: Backoff): InstanceRecord {
  const { backoff: _replaced, ...rest } = record;
  return backoff ? { ...rest, backoff } : rest;
}

export const sameBackoff = (a: Backoff, b: Backoff): boolean =>
  a?.streak === b?.streak && a?.delayMs === b?.delayMs && a?.until === b?.until && a?.healthySince === b?.healthySince;
