/**
 * EventBridge schedule `rate(1 minute)` → this function: one reconcile run
 * (recycle silent instances, recreate dead pods, remove orphans). Outcomes:
 * `done`, `partial` (some kinds failed; the next tick retries them) and
 * `skipped` return; `failed` (no kind could be reconciled) throws, so the
 * invocation shows as an error. Only this function drives instances, so only
 * its bundle imports the runtime factory (and with it the Kubernetes adapter
 * and its EKS authentication).
 */
import type { Context } from 'aws-lambda';
import { type DroppedTrigger, onSchedule } from '../lib/handlers/scheduled.js';
import { runtimeFromEnv } from '../lib/instances/runtime-from-env.js';
import { reconcileRun, type ReconcileRunResponse } from '../lib/reconcile/reconcile.js';

export async function handler(
  event: unknown,
  context?: Partial<Pick<Context, 'awsRequestId'>>,
): Promise<ReconcileRunResponse | DroppedTrigger> {
  const holder = context?.awsRequestId ? `lambda/${context.awsRequestId}` : undefined;
  return onSchedule('reconcile', event, (app, trigger) => reconcileRun(app, trigger, holder), {
    runtime: () => runtimeFromEnv(process.env),
  });
}
