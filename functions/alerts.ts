/**
 * EventBridge schedule `rate(1 minute)` → this function: forwards the alerts
 * every function keeps in the store's outbox to the platform's Kafka topic
 * `Alert` (SPEC §6). It is the only function with a Kafka client: kafkajs is
 * most of its bundle, and reconcile, which forwarded them before, spent 40 %
 * of its cold start parsing it. What the broker did not take stays in the
 * outbox for the next run, and the invocation fails.
 */
import type { Context } from 'aws-lambda';
import { kafkaAlertsFromEnv } from '../lib/alerts-kafka.js';
import type { PublishOutcome } from '../lib/alerts.js';
import { forwardStoredAlerts } from '../lib/alerts-forward.js';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { Metrics } from '../lib/metrics.js';
import { parseReconcileTrigger } from '../lib/reconcile/trigger.js';

export type AlertsResponse =
  | { status: 'done'; forwarded: number }
  | { status: 'skipped' | 'off' | 'dropped'; reason: string };

export class AlertsNotForwardedError extends Error {
  override readonly name = 'AlertsNotForwardedError';
  constructor(readonly outcome: PublishOutcome) {
    super(`${outcome.failed} stored alerts not forwarded, kept for the next run: ${outcome.error ?? 'unknown error'}`);
  }
}

export async function handler(
  event: unknown,
  context?: Partial<Pick<Context, 'awsRequestId'>>,
): Promise<AlertsResponse> {
  const metrics = new Metrics('IotaOrchestrator', { Function: 'alerts' });
  try {
    return await withSharedApp(
      async (app) => {
        const trigger = parseReconcileTrigger(event);
        if (!trigger.ok) {
          const { field, reason } = trigger;
          app.logger.error({ handler: 'alerts', field, reason }, 'malformed alerts trigger dropped');
          return { status: 'dropped', reason: `${field}: ${reason}` };
        }
        if (!app.alertForwarder) return { status: 'off', reason: 'KAFKA_BROKERS is not set: alerts stay in the store' };
        const run = await forwardStoredAlerts(app, app.alertForwarder, `lambda/${context?.awsRequestId ?? 'alerts'}`);
        if (run.status === 'skipped') return { status: 'skipped', reason: `the alerts lease is held by ${run.heldBy}` };
        const { outcome } = run;
        metrics.count('AlertsForwarded', outcome?.delivered ?? 0);
        if (outcome && outcome.failed > 0) {
          metrics.count('AlertForwardFailures', outcome.failed);
          throw new AlertsNotForwardedError(outcome);
        }
        return { status: 'done', forwarded: outcome?.delivered ?? 0 };
      },
      { alertForwarder: (logger) => kafkaAlertsFromEnv(process.env, logger) },
    );
  } finally {
    metrics.flush();
  }
}
