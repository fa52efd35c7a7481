/**
 * cm/notify end to end: every message kind through handleNotifyMessage into a
 * real store (embedded SQLite and ZooKeeper), asserting the legacy layout the
 * workers read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { handleNotifyMessage, NOTIFY_METRICS } from '../../../lib/handlers/notify.js';
import { Metrics } from '../../../lib/metrics.js';
import { StoreUnavailableError } from '../../../lib/store/port.js';
import { STORE_ADAPTERS } from '../../support/stores.js';
import { sampleEvent } from '../../unit/handlers/fixtures.js';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';
import { legacyLayout } from './layout-snapshot.js';

const THING = '6d1c2f0e-3b8a-4c57-9f2e-1a2b3c4d5e6f';
const BULK = [
  'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51',
  'c0ffee00-1234-4abc-9def-00112233aabb',
  'e8b1d3a7-5c2f-4f60-b9d4-7a3e2c1b0f98',
];

describe.each(STORE_ADAPTERS)('cm/notify on %s', (adapter) => {
  let t: TestApp;
  let metrics: Metrics;
  beforeEach(async () => {
    t = await openTestApp(adapter, { label: 'notify' });
    metrics = new Metrics('test', {}, () => undefined);
  });
  afterEach(async () => {
    await t.close();
  });

  const notify = (message: unknown) => handleNotifyMessage(t.app, message, metrics);
  const layout = () => legacyLayout(t.app, 'Thing');
  const owner = async (id: string) => (await layout()).find((instance) => instance.ids.includes(id));

  it('places a created Thing on exactly one instance, where locate finds it', async () => {
    const outcome = await notify(sampleEvent('notify-create-thing.json'));

    expect(outcome.status).toBe('assigned');
    const instances = await layout();
    expect(instances.filter((instance) => instance.ids.includes(THING))).toHaveLength(1);
    expect(await t.app.orchestrator.locate('Thing', THING)).toBe((await owner(THING))?.id);
    for (const instance of instances) expect(instance.used).toBe(instance.ids.length);
  });

  it.each([
    ['a create', ['notify-create-thing.json']],
    ['a bulk create', ['notify-bulk-create-things.json']],
    ['a delete', ['notify-create-thing.json', 'notify-delete-thing.json']],
    ['a bulk delete', ['notify-bulk-create-things.json', 'notify-bulk-delete-things.json']],
  ])('leaves the same layout, _reload included, when %s is delivered twice', async (_label, names) => {
    const messages = names.map((name) => sampleEvent(name));
    for (const message of messages) await notify(message);
    const once = await layout();

    const redelivered = await notify(messages.at(-1));

    expect(await layout()).toEqual(once);
    expect(['assigned', 'unassigned']).toContain(redelivered.status);
    expect(metrics.get(NOTIFY_METRICS.redelivered)).toBeGreaterThan(0);
  });

  it('reloads the owning instance on an update, and only it', async () => {
    await notify(sampleEvent('notify-create-thing.json'));
    await t.app.orchestrator.assign('Thing', ['other-1', 'other-2', 'other-3']);
    const before = await layout();
    const ownerId = (await owner(THING))!.id;

    const outcome = await notify(sampleEvent('notify-update-thing.json'));

    expect(outcome).toMatchObject({ status: 'reloaded', via: 'message' });
    const after = await layout();
    for (const instance of after) {
      const previous = before.find((b) => b.id === instance.id)!;
      expect(instance.reloadTimes).toBe(previous.reloadTimes + (instance.id === ownerId ? 1 : 0));
      expect(instance.ids).toEqual(previous.ids);
    }
  });

  it('keeps the assignment when an update is delivered twice (the worker just re-reads once more)', async () => {
    await notify(sampleEvent('notify-create-thing.json'));
    await notify(sampleEvent('notify-update-thing.json'));
    const once = await layout();

    await notify(sampleEvent('notify-update-thing.json'));

    expect((await layout()).map(({ id, used, count, ids }) => ({ id, used, count, ids }))).toEqual(
      once.map(({ id, used, count, ids }) => ({ id, used, count, ids })),
    );
  });

  it("reloads the Thing's owner when a related row changed it (trigger)", async () => {
    await notify(sampleEvent('notify-create-thing.json'));
    const before = (await owner(THING))!;

    const outcome = await notify(sampleEvent('notify-trigger-layout.json'));

    expect(outcome).toMatchObject({ status: 'reloaded', via: 'trigger' });
    expect((await owner(THING))!.reloadTimes).toBe(before.reloadTimes + 1);
  });

  it('assigns a Thing created through a trigger when it is on no instance yet, and only reloads it afterwards', async () => {
    const message = {
      o: 'c',
      t: 'Thing',
      k: { id: 'T-via-trigger' },
      trigger: { o: 'c', t: 'Layout', k: { id: 'L-1' } },
    };

    const first = await notify(message);
    const placed = (await owner('T-via-trigger'))!;
    const second = await notify(message);

    expect(first).toMatchObject({ status: 'reloaded', assigned: { assigned: [{ id: 'T-via-trigger' }] } });
    expect(second).toMatchObject({ status: 'reloaded', result: { reloaded: [{ instanceId: placed.id }] } });
    expect(second).not.toHaveProperty('assigned');
    expect((await layout()).flatMap((instance) => instance.ids)).toEqual(['T-via-trigger']);
  });

  it('reloads the owners of a bulk update, once per instance', async () => {
    await notify(sampleEvent('notify-bulk-create-things.json'));
    const before = await layout();

    const outcome = await notify(sampleEvent('notify-bulk-update-things.json'));

    expect(outcome.status).toBe('reloaded');
    const bumps = (await layout()).map(
      (instance) => instance.reloadTimes - before.find((b) => b.id === instance.id)!.reloadTimes,
    );
    const owners = new Set(
      before
        .filter((instance) => instance.ids.some((id) => BULK.slice(0, 2).includes(id)))
        .map((instance) => instance.id),
    );
    expect(bumps.filter((bump) => bump === 1)).toHaveLength(owners.size);
    expect(bumps.every((bump) => bump === 0 || bump === 1)).toBe(true);
  });

  it('empties the orchestration after creates, updates and deletes of every kind', async () => {
    for (const name of [
      'notify-create-thing.json',
      'notify-update-thing.json',
      'notify-trigger-layout.json',
      'notify-bulk-create-things.json',
      'notify-bulk-update-things.json',
      'notify-bulk-delete-things.json',
      'notify-delete-thing.json',
    ]) {
      await notify(sampleEvent(name));
    }

    const instances = await layout();
    expect(instances.flatMap((instance) => instance.ids)).toEqual([]);
    expect(instances.every((instance) => instance.used === 0)).toBe(true);
    expect(await t.app.orchestrator.locate('Thing', THING)).toBeUndefined();
  });

  it('places Rules apart from Things', async () => {
    await notify(sampleEvent('notify-create-rule.json'));

    expect((await legacyLayout(t.app, 'Rule')).flatMap((instance) => instance.ids)).toEqual([
      'f4e5d6c7-b8a9-4012-8345-6789abcdef01',
    ]);
    expect(await layout()).toEqual([]);
  });

  it('ignores other tables without touching the store', async () => {
    await notify(sampleEvent('notify-create-thing.json'));
    const before = await layout();
    const commits = t.store.commits;

    const outcome = await notify(sampleEvent('notify-ignored-table.json'));

    expect(outcome.status).toBe('ignored');
    expect(await layout()).toEqual(before);
    expect(t.store.commits).toBe(commits);
    expect(metrics.get(NOTIFY_METRICS.ignored)).toBe(1);
  });

  it.each([
    ['a payload that is not JSON', '{"o":"c","t":"Thing",'],
    ['an invalid id', { o: 'c', t: 'Thing', k: { id: 'no spaces allowed' } }],
    ['no table', { o: 'c', k: { id: 'T-1' } }],
    ['a number', 42],
  ])('logs, counts and returns on %s, writing nothing', async (_label, message) => {
    const outcome = await notify(message);

    expect(outcome.status).toBe('malformed');
    expect(metrics.get(NOTIFY_METRICS.malformed)).toBe(1);
    expect(t.store.commits).toBe(0);
  });

  it('accepts the raw MQTT payload as a Buffer', async () => {
    const outcome = await notify(Buffer.from(JSON.stringify(sampleEvent('notify-create-thing.json'))));

    expect(outcome.status).toBe('assigned');
    expect(await owner(THING)).toBeDefined();
  });

  it('counts a bulk create without keys as needing a catalog reconcile', async () => {
    const outcome = await notify(sampleEvent('notify-bulk-create-without-keys.json'));

    expect(outcome.status).toBe('reconcile-needed');
    expect(metrics.get(NOTIFY_METRICS.reconcileNeeded)).toBe(1);
    expect(await layout()).toEqual([]);
  });

  it('keeps creates pending at the maximum and raises one capacity-exhausted alert through the App', async () => {
    const alerts = new MemoryAlertPublisher();
    await t.close();
    t = await openTestApp(adapter, { label: 'notify', alerts });
    await t.app.orchestrator.assign('Thing', ['a0', 'a1', 'a2']);
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }, 'op');
    await t.app.orchestrator.assign('Thing', ['b0', 'b1', 'b2']);

    const first = await notify(sampleEvent('notify-create-thing.json'));
    const second = await notify(sampleEvent('notify-bulk-create-things.json'));

    expect(first).toMatchObject({ status: 'assigned', result: { assigned: [], pending: [THING] } });
    expect(second).toMatchObject({ status: 'assigned', result: { assigned: [], pending: BULK } });
    expect(await t.app.orchestrator.pendingIds('Thing')).toEqual([THING, ...BULK].sort());
    expect(alerts.alerts).toEqual([
      {
        type: 'capacity-exhausted',
        resource: 'Thing',
        maxInstances: 3,
        resourcePerInstance: 2,
        pending: 1,
        at: expect.any(Number),
      },
    ]);
  });

  it('throws when the store is unavailable, so the message is retried and then dead-lettered', async () => {
    t.store.goDown();

    await expect(notify(sampleEvent('notify-create-thing.json'))).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
