/**
 * The App's alert publisher counts the alerts it is given by type, as an EMF line per type (AlertsRaised,
 * dimension AlertType): the metric the alert alarms of serverless.yml watch. Without metrics it writes none.
 */
import { describe, expect, it } from 'vitest';
import type { FleetSilentAlert, ScaleLimitAlert } from '../../lib/alerts.js';
import { silentLogger } from '../../lib/log.js';
import { Metrics } from '../../lib/metrics.js';
import { type AlertOutbox, OutboxAlertPublisher } from '../../lib/orchestration/alert-outbox.js';

const kept: unknown[] = [];
const outbox = { record: async (alerts: unknown[]) => void kept.push(...alerts) } as unknown as AlertOutbox;

const fleetSilent = (resource: string): FleetSilentAlert => ({
  type: 'fleet-silent',
  resource,
  stale: 7,
  total: 10,
  at: 1_714_550_400_000,
  instances: ['0', '1', '2', '3', '4', '5', '6'],
});
const scaleLimit: ScaleLimitAlert = {
  type: 'scale-limit',
  resource: 'Thing',
  maxInstances: 4,
  recommended: 6,
  at: 1_714_550_400_000,
};

describe('OutboxAlertPublisher metrics', () => {
  it('writes one EMF line per alert type, counting AlertsRaised with dimension AlertType', async () => {
    const lines: string[] = [];
    const publisher = new OutboxAlertPublisher(
      outbox,
      silentLogger(),
      new Metrics('IotaOrchestrator', {}, (line) => lines.push(line)),
    );

    const outcome = await publisher.publish([fleetSilent('Thing'), scaleLimit, fleetSilent('Device')]);

    expect(outcome.failed).toBe(0);
    const emitted = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(emitted).toEqual([
      expect.objectContaining({ AlertType: 'fleet-silent', AlertsRaised: 2 }),
      expect.objectContaining({ AlertType: 'scale-limit', AlertsRaised: 1 }),
    ]);
    for (const line of emitted)
      expect(line._aws).toMatchObject({
        CloudWatchMetrics: [
          {
            Namespace: 'IotaOrchestrator',
            Dimensions: [['AlertType']],
            Metrics: [{ Name: 'AlertsRaised', Unit: 'Count' }],
          },
        ],
      });
  });

  it('writes nothing without metrics, and nothing for no alerts', async () => {
    const lines: string[] = [];
    await new OutboxAlertPublisher(outbox, silentLogger()).publish([scaleLimit]);
    await new OutboxAlertPublisher(
      outbox,
      silentLogger(),
      new Metrics('IotaOrchestrator', {}, (line) => lines.push(line)),
    ).publish([]);

    expect(lines).toEqual([]);
  });
});
