/**
 * One run of the alerts function: the undelivered alerts of the store's
 * outbox (lib/orchestration/alert-outbox.ts) to Kafka, under the lease
 * `alerts`, so two runs never send an alert twice.
 */
import type { AlertPublisher, PublishOutcome } from './alerts.js';
import type { App } from './app.js';
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
