/**
 * EventBridge schedule `rate(1 minute)` → this function: one reconcile run
 * (recycle silent instances, recreate dead pods, remove orphans). A run that
 * finds another one holding the lease returns `status: "skipped"`; only a
 * store failure throws, and the next tick simply runs again.
 */
import type { Context } from 'aws-lambda';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { reconcile, summarizeReport, type ReconcileSummary } from '../lib/reconcile/reconcile.js';
import { parseReconcileTrigger } from '../lib/reconcile/trigger.js';

export async function handler(event: unknown, context?: Partial<Pick<Context, 'awsRequestId'>>): Promise<ReconcileSummary & { trigger: string }> {
  const trigger = parseReconcileTrigger(event);
  const report = await withSharedApp((app) => reconcile(app, context?.awsRequestId ? { holder: `lambda/${context.awsRequestId}` } : {}));
  return { trigger: `${trigger.source} ${trigger['detail-type']} ${trigger.time}`, ...summarizeReport(report) };
}
