/**
 * One run of the alerts function: the undelivered alerts of the store's
 * outbox (lib/orchestration/alert-outbox.ts) to Kafka, under the lease
 * `alerts`, so two runs never send an alert twice. What the broker did not
 * take stays in the outbox for the next run, and the invocation fails.
 */
import type { AlertPublisher, PublishOutcome } from './alerts.js';
import type { App } from './app.js';
import type { Metrics } from './metrics.js';
import { forwardAlerts } from './orchestration/alert-outbox.js';
import { LeaseHeldError } from './orchestration/errors.js';
import type { Lease } from './orchestration/types.js';

export const ALERTS_LEASE = 'alerts';

/** `outcome` undefined: nothing was waiting. */
export type ForwardRun =
  | { readonly status: 'done'; readonly outcome: PublishOutcome | undefined }
  | { readonly status: 'skipped'; readonly heldBy: string };

export async function forwardStoredAlerts(app: App, forwarder: AlertPublisher, holder: string): Promise<ForwardRun> {
  let lease: Lease;
  try {
    lease = await app.orchestrator.acquireLease(ALERTS_LEASE, holder, app.settings.leaseTtlMs);
  } catch (error) {
    if (error instanceof LeaseHeldError) return { status: 'skipped', heldBy: error.holder };
    throw error;
  }
  try {
    return { status: 'done', outcome: await forwardAlerts(app.alertOutbox, forwarder) };
  } finally {
    await app.orchestrator.releaseLease(lease).catch((error: unknown) => {
      // It expires on its own; the next run just waits for it.
      app.logger.warn({ err: error }, 'alerts lease not released');
    });
  }
}

export type AlertsRunResponse = { status: 'done'; forwarded: number } | { status: 'skipped' | 'off'; reason: string };

export class AlertsNotForwardedError extends Error {
  override readonly name = 'AlertsNotForwardedError';
  constructor(readonly outcome: PublishOutcome) {
    super(`${outcome.failed} stored alerts not forwarded, kept for the next run: ${outcome.error ?? 'unknown error'}`);
  }
}

/** The alerts function's run: off without a forwarder (KAFKA_BROKERS), skipped while another run holds the lease. */
export async function forwardAlertsRun(app: App, holder: string, metrics: Metrics): Promise<AlertsRunResponse> {
  if (!app.alertForwarder) return { status: 'off', reason: 'KAFKA_BROKERS is not set: alerts stay in the store' };
  const run = await forwardStoredAlerts(app, app.alertForwarder, holder);
  if (run.status === 'skipped') return { status: 'skipped', reason: `the alerts lease is held by ${run.heldBy}` };
  const { outcome } = run;
  metrics.count('AlertsForwarded', outcome?.delivered ?? 0);
  if (outcome && outcome.failed > 0) {
    metrics.count('AlertForwardFailures', outcome.failed);
    throw new AlertsNotForwardedError(outcome);
  }
  return { status: 'done', forwarded: outcome?.delivered ?? 0 };
}
