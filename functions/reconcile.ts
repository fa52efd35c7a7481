/**
 * EventBridge schedule `rate(1 minute)` → this function: one reconcile run
 * (recycle silent instances, recreate dead pods, remove orphans). Outcomes:
 * `done`, `partial` (some kinds failed; the next tick retries them) and
 * `skipped` return; `failed` (no kind could be reconciled) throws, so the
 * invocation shows as an error. A malformed trigger can never succeed: it is
 * logged and dropped, not retried.
 */
import type { Context } from 'aws-lambda';
import type { AppParts } from '../lib/app.js';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { runtimeFromEnv } from '../lib/instances/runtime-from-env.js';
import { reconcile, summarizeReport, type ReconcileSummary } from '../lib/reconcile/reconcile.js';
import { parseReconcileTrigger, ReconcileFailedError } from '../lib/reconcile/trigger.js';

/**
 * Only this function drives instances, so only its bundle imports the runtime factory (and with it
 * the Kubernetes adapter and its EKS authentication). Its alerts go to the store's outbox like every
 * function's; functions/alerts.ts forwards them to Kafka.
 */
const PARTS: AppParts = { runtime: () => runtimeFromEnv(process.env) };

/** `runtime` names where the run's pods live, and says when it only looked (`sls invoke local`). */
export type ReconcileResponse =
  | (ReconcileSummary & { trigger: string; runtime: string })
  | { status: 'dropped'; reason: string };

export async function handler(
  event: unknown,
  context?: Partial<Pick<Context, 'awsRequestId'>>,
): Promise<ReconcileResponse> {
  return withSharedApp(async (app) => {
    const trigger = parseReconcileTrigger(event);
    if (!trigger.ok) {
      app.logger.error(
        { handler: 'reconcile', field: trigger.field, reason: trigger.reason },
        'malformed reconcile trigger dropped',
      );
      return { status: 'dropped', reason: `${trigger.field}: ${trigger.reason}` };
    }
    const report = await reconcile(app, context?.awsRequestId ? { holder: `lambda/${context.awsRequestId}` } : {});
    if (report.status === 'failed')
      throw new ReconcileFailedError(
        report.failedKinds,
        report.errors.map((error) => error.message),
      );
    const { source, 'detail-type': detailType, time } = trigger.trigger;
    const { description: runtime } = await app.runtime();
    return { trigger: `${source} ${detailType} ${time}`, runtime, ...summarizeReport(report) };
  }, PARTS);
}
