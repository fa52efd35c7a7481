/**
 * Alerts kept in the store: every alert an App raises is logged and written
 * here (`<state>/alerts/<time>-<type>-<resource>-<random>`), and the `alerts`
 * function (npm start: its reconcile loop) forwards the undelivered ones to
 * Kafka once a minute. So the functions that raise an alert now and then need no
 * Kafka client in their bundle, an alert raised while Kafka is down is
 * delivered later instead of lost, and the recent alerts are there to show.
 * The newest ALERTS_KEPT are kept, delivered or not, so the directory stays
 * small whatever happens to Kafka.
 */
import * as z from '../zod.js';
import { type AlertPublisher, LogAlertPublisher, type OrchestratorAlert, type PublishOutcome } from '../alerts.js';
import { nodeCrypto } from '../lazy-crypto.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { ANY_VERSION, createInFolder, isNoNode, type NodeStore, removeIfPresent } from '../store/port.js';
import type { Layout } from './layout.js';
import { jsonOrUndefined } from './stored.js';

export const ALERTS_KEPT = 100;

const StoredAlertSchema = z.object({
  alert: z.looseObject({ type: z.string(), resource: z.string(), at: z.number() }),
  delivered: z.boolean(),
});

export interface StoredAlert {
  readonly name: string;
  readonly alert: OrchestratorAlert;
  readonly delivered: boolean;
}

export class AlertOutbox {
  constructor(
    private readonly store: NodeStore,
    private readonly layout: Layout,
  ) {}

  async record(alerts: readonly OrchestratorAlert[]): Promise<void> {
    if (alerts.length === 0) return;
    await createInFolder(
      this.store,
      this.layout.alertsDir(),
      alerts.map((alert) => ({
        op: 'create' as const,
        path: this.layout.alert(
          `${String(alert.at).padStart(13, '0')}-${alert.type}-${alert.resource}-${nodeCrypto().randomUUID().slice(0, 8)}`,
        ),
        data: JSON.stringify({ alert, delivered: false }),
      })),
    );
    await this.prune();
  }

  /** Oldest first; a node that cannot be read is skipped (it is pruned in time like any other). */
  async list(): Promise<StoredAlert[]> {
    const names = (await this.store.children(this.layout.alertsDir())).sort();
    const nodes = await this.store.getMany(names.map((name) => this.layout.alert(name)));
    return names.flatMap((name, i) => {
      const parsed = StoredAlertSchema.safeParse(jsonOrUndefined(nodes[i]?.data));
      return parsed.success
        ? [{ name, alert: parsed.data.alert as unknown as OrchestratorAlert, delivered: parsed.data.delivered }]
        : [];
    });
  }

  async markDelivered(stored: readonly StoredAlert[]): Promise<void> {
    await Promise.all(
      stored.map((entry) =>
        this.store
          .commit([
            {
              op: 'set',
              path: this.layout.alert(entry.name),
              data: JSON.stringify({ alert: entry.alert, delivered: true }),
              version: ANY_VERSION,
            },
          ])
          // Pruned meanwhile: nothing left to mark.
          .catch((error: unknown) => {
            if (!isNoNode(error)) throw error;
          }),
      ),
    );
  }

  private async prune(): Promise<void> {
    const names = (await this.store.children(this.layout.alertsDir())).sort();
    const surplus = names.slice(0, Math.max(0, names.length - ALERTS_KEPT));
    await removeIfPresent(
      this.store,
      surplus.map((name) => this.layout.alert(name)),
    );
  }
}

/**
 * The App's publisher: logs every alert and keeps it in the outbox for the alerts function to forward. With
 * `metrics` (the Lambda functions) it also counts them by type, `AlertsRaised` with dimension `AlertType`: the
 * metric serverless.yml's alert alarms watch.
 */
export class OutboxAlertPublisher implements AlertPublisher {
  readonly description = 'log, and the store outbox the alerts function forwards';
  private readonly log: LogAlertPublisher;

  constructor(
    private readonly outbox: AlertOutbox,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.log = new LogAlertPublisher(logger);
  }

  async publish(alerts: readonly OrchestratorAlert[]): Promise<PublishOutcome> {
    const outcome = await this.log.publish(alerts);
    if (this.metrics) {
      const byType = new Map<string, number>();
      for (const { type } of alerts) byType.set(type, (byType.get(type) ?? 0) + 1);
      for (const [type, raised] of byType) {
        const metrics = this.metrics.child({ AlertType: type });
        metrics.count('AlertsRaised', raised);
        metrics.flush();
      }
    }
    try {
      await this.outbox.record(alerts);
      return outcome;
    } catch (error) {
      this.logger.warn({ err: error, alerts: alerts.length }, 'alerts logged but not kept in the store outbox');
      return { ...outcome, failed: alerts.length, error: (error as Error).message };
    }
  }

  async close(): Promise<void> {}
}

/** Publishes the outbox's undelivered alerts through `forwarder`, and marks them delivered once it took them all. */
export async function forwardAlerts(
  outbox: AlertOutbox,
  forwarder: AlertPublisher,
): Promise<PublishOutcome | undefined> {
  const waiting = (await outbox.list()).filter((entry) => !entry.delivered);
  if (waiting.length === 0) return undefined;
  const outcome = await forwarder.publish(waiting.map((entry) => entry.alert));
  if (outcome.failed === 0) await outbox.markDelivered(waiting);
  return outcome;
}
