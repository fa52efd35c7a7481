/**
 * Alerts through the store: an alert raised where there is no Kafka client
 * (api, notify) is logged and kept in the outbox; reconcile forwards the
 * undelivered ones, exactly once, and keeps those a failing forwarder did
 * not take for the next run. The outbox keeps the newest ALERTS_KEPT.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type AlertPublisher, MemoryAlertPublisher, type OrchestratorAlert } from '../../../lib/alerts.js';
import { ALERTS_KEPT } from '../../../lib/orchestration/alert-outbox.js';
import { type Harness, startHarness, THING } from './harness.js';
import { capacityAlert } from '../../support/alerts.js';

/** A Kafka that is down: takes nothing. */
const brokerDown: AlertPublisher = {
  description: 'broker down',
  publish: async (alerts: readonly OrchestratorAlert[]) => ({
    logged: alerts.length,
    delivered: 0,
    failed: alerts.length,
    error: 'KafkaJSConnectionError',
  }),
  close: async () => undefined,
};

describe.each(['sqlite', 'zookeeper'] as const)('alerts kept in the store (%s)', (adapter) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('forwards a capacity-exhausted alert raised by a placement once, on the next reconcile run', async () => {
    h = await startHarness({ adapter, kinds: [THING] });
    await h.app.orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 1 }, 't');
    await h.app.orchestrator.assign('Thing', ['a', 'b', 'c', 'd']);
    const stored = await h.app.alertOutbox.list();
    expect(stored.map((entry) => [entry.alert.type, entry.delivered])).toEqual([['capacity-exhausted', false]]);

    const kafka = new MemoryAlertPublisher();
    const first = await h.run({ forwardAlerts: kafka });
    const second = await h.run({ forwardAlerts: kafka });

    expect(kafka.alerts.map((alert) => alert.type)).toEqual(['capacity-exhausted']);
    expect(first.alertsForwarded).toMatchObject({ delivered: 1, failed: 0 });
    expect(second.alertsForwarded).toBeUndefined();
    expect((await h.app.alertOutbox.list()).map((entry) => entry.delivered)).toEqual([true]);
  });

  it('keeps what a failing forwarder did not take, and delivers it on a later run', async () => {
    h = await startHarness({ adapter, kinds: [THING] });
    await h.app.alerts.publish([capacityAlert(1), capacityAlert(2)]);

    const down = await h.run({ forwardAlerts: brokerDown });
    const kafka = new MemoryAlertPublisher();
    await h.run({ forwardAlerts: kafka });

    expect(down.alertsForwarded).toMatchObject({ failed: 2 });
    expect(kafka.alerts.map((alert) => alert.at)).toEqual([1, 2]);
  });

  it(`keeps only the newest ${ALERTS_KEPT}`, async () => {
    h = await startHarness({ adapter, kinds: [THING] });
    await h.app.alerts.publish(Array.from({ length: ALERTS_KEPT + 5 }, (_, i) => capacityAlert(1000 + i)));

    const kept = await h.app.alertOutbox.list();
    expect(kept).toHaveLength(ALERTS_KEPT);
    expect(kept[0]!.alert.at).toBe(1005);
  });
});
