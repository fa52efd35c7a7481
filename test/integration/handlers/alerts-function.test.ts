/**
 * The alerts function: the alerts every function keeps in the store's outbox
 * are forwarded once, by one run at a time (the lease `alerts`), and what the
 * broker did not take stays for the next run. Runs the real handler on the
 * embedded store, as `sls invoke local` does; a Kafka that takes everything
 * is a MemoryAlertPublisher, one that is down a closed port.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { ALERTS_LEASE, forwardStoredAlerts } from '../../../lib/alerts-forward.js';
import { type App, createApp } from '../../../lib/app.js';
import { silentLogger } from '../../../lib/log.js';
import { handler } from '../../../functions/alerts.js';
import { useLocalLambdaEnv } from '../../support/lambda-env.js';
import { capacityAlert } from '../../support/alerts.js';

const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event', time: '2024-05-01T08:00:00Z' };

/** Runs `work` with an App of its own on the test's embedded store. */
async function withApp<T>(work: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(process.env, { logger: silentLogger() });
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

const outbox = (): Promise<Array<[number, boolean]>> =>
  withApp(async (app) => (await app.alertOutbox.list()).map((entry) => [entry.alert.at, entry.delivered]));

describe('alerts function', () => {
  useLocalLambdaEnv('alerts-fn', {}, ['KAFKA_BROKERS']);

  it('forwards each stored alert once', async () => {
    await withApp((app) => app.alerts.publish([capacityAlert(1), capacityAlert(2)]));
    const kafka = new MemoryAlertPublisher();

    const [first, second] = await withApp(async (app) => [
      await forwardStoredAlerts(app, kafka, 'run-1'),
      await forwardStoredAlerts(app, kafka, 'run-2'),
    ]);

    expect(kafka.alerts.map((alert) => alert.at)).toEqual([1, 2]);
    expect(first).toMatchObject({ status: 'done', outcome: { delivered: 2, failed: 0 } });
    expect(second).toEqual({ status: 'done', outcome: undefined });
    expect(await outbox()).toEqual([
      [1, true],
      [2, true],
    ]);
  });

  it('forwards nothing while another run holds the alerts lease', async () => {
    await withApp(async (app) => {
      await app.alerts.publish([capacityAlert(1)]);
      await app.orchestrator.acquireLease(ALERTS_LEASE, 'other-run', 60_000);
    });
    const kafka = new MemoryAlertPublisher();

    const run = await withApp((app) => forwardStoredAlerts(app, kafka, 'this-run'));

    expect(run).toEqual({ status: 'skipped', heldBy: 'other-run' });
    expect(kafka.alerts).toEqual([]);
    expect(await outbox()).toEqual([[1, false]]);
  });

  it('keeps the alerts in the store when no Kafka is configured', async () => {
    await withApp((app) => app.alerts.publish([capacityAlert(1)]));

    const response = await handler(SCHEDULED, { awsRequestId: 'req-1' });

    expect(response).toEqual({ status: 'off', reason: expect.stringContaining('KAFKA_BROKERS is not set') });
    expect(await outbox()).toEqual([[1, false]]);
  });

  it('fails the invocation when the broker cannot be reached, keeping the alerts for the next run', async () => {
    await withApp((app) => app.alerts.publish([capacityAlert(1)]));
    // Nothing listens on port 1.
    process.env.KAFKA_BROKERS = '127.0.0.1:1';

    const failure = await handler(SCHEDULED, { awsRequestId: 'req-2' }).catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'AlertsNotForwardedError', outcome: { failed: 1 } });
    expect(await outbox()).toEqual([[1, false]]);
  });

  it('drops a malformed trigger, naming the field, instead of throwing for a retry', async () => {
    const response = await handler({ ...SCHEDULED, time: 'yesterday' });

    expect(response).toEqual({ status: 'dropped', reason: expect.stringMatching(/^time: /) });
  });
});
