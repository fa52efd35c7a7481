/**
 * The scheduled entry points (EventBridge `rate(1 minute)`: reconcile, alerts,
 * catalog). Their trigger only says "look now", so it is checked loosely
 * (lib/reconcile/trigger.ts); a malformed one can never succeed, so it is
 * logged and dropped, not retried. A module of its own: the other functions'
 * bundles need no trigger schema.
 */
import type { App, AppParts } from '../app.js';
import { parseReconcileTrigger, type ReconcileTrigger } from '../reconcile/trigger.js';
import { withSharedApp } from './lambda.js';

export interface DroppedTrigger {
  readonly status: 'dropped';
  /** The first offending field and why, e.g. `time: must be an ISO 8601 date-time`. */
  readonly reason: string;
}

/** Runs `work` with the container's App and the trigger, once the trigger is valid; else drops it. */
export function onSchedule<T>(
  name: string,
  event: unknown,
  work: (app: App, trigger: ReconcileTrigger) => Promise<T>,
  parts?: AppParts,
): Promise<T | DroppedTrigger> {
  return withSharedApp(async (app): Promise<T | DroppedTrigger> => {
    const parsed = parseReconcileTrigger(event);
    if (!parsed.ok) {
      const { field, reason } = parsed;
      app.logger.error({ handler: name, field, reason }, `malformed ${name} trigger dropped`);
      return { status: 'dropped', reason: `${field}: ${reason}` };
    }
    return work(app, parsed.trigger);
  }, parts);
}
