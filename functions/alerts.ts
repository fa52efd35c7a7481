/**
 * EventBridge schedule `rate(1 minute)` → this function: forwards the alerts
 * every function keeps in the store's outbox to the platform's Kafka topic
 * `Alert` (SPEC §6). It is the only function with a Kafka client: kafkajs is
 * most of its bundle, and reconcile, which forwarded them before, spent 40 %
 * of its cold start parsing it.
 */
import type { Context } from 'aws-lambda';
import { kafkaAlertsFromEnv } from '../lib/alerts-kafka.js';
import { type AlertsRunResponse, forwardAlertsRun } from '../lib/alerts-forward.js';
import { withMetrics } from '../lib/handlers/lambda.js';
import { type DroppedTrigger, onSchedule } from '../lib/handlers/scheduled.js';

export async function handler(
  event: unknown,
  context?: Partial<Pick<Context, 'awsRequestId'>>,
): Promise<AlertsRunResponse | DroppedTrigger> {
  return withMetrics('alerts', (metrics) =>
    onSchedule(
      'alerts',
      event,
      (app) => forwardAlertsRun(app, `lambda/${context?.awsRequestId ?? 'alerts'}`, metrics),
      {
        alertForwarder: (logger) => kafkaAlertsFromEnv(process.env, logger),
      },
    ),
  );
}
