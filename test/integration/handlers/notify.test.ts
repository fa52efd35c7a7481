/**
 * cm/notify end to end: every message kind, each sent as a batch of one
 * through handleNotifyBatch into a real store (embedded SQLite and
 * ZooKeeper), asserting the legacy layout the workers read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { NOTIFY_METRICS } from '../../../lib/handlers/notify.js';
import { handleNotifyBatch } from '../../../lib/handlers/notify-batch.js';
import { Metrics } from '../../../lib/metrics.js';
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

  /** One message as a batch of one. */
  const notify = (message: unknown) => handleNotifyBatch(t.app, [{ id: 'm1', payload: message }], metrics);
  const layout = () => legacyLayout(t.app, 'Thing');
  const owner = async (id: string) => (await layout()).find((instance) => instance.ids.includes(id));
  const ids = (placements: ReadonlyArray<{ id: string }>) => placements.map((placement) => placement.id);

  it('places a created Thing on exactly one instance, where locate finds it', async () => {
    const result = await notify(sampleEvent('notify-create-thing.json'));

    expect(result.failed).toEqual([]);
    expect(ids(result.kinds[0]!.assigned)).toEqual([THING]);
    const instances = await layout();
    expect(instances.filter((instance) => instance.ids.includes(THING))).toHaveLength(1);
    expect(await t.app.orchestrator.locate('Thing', THING)).toBe((await owner(THING))?.id);
    for (const instance of instances) expect(instance.used).toBe(instance.ids.length);
  });

  it.each([
    ['a create', ['notify-create-thing.json'], { alreadyAssigned: 1, notAssigned: 0 }],
    ['a bulk create', ['notify-bulk-create-things.json'], { alreadyAssigned: 3, notAssigned: 0 }],
    ['a delete', ['notify-create-thing.json', 'notify-delete-thing.json'], { alreadyAssigned: 0, notAssigned: 1 }],
    [
      'a bulk delete',
      ['notify-bulk-create-things.json', 'notify-bulk-delete-things.json'],
      { alreadyAssigned: 0, notAssigned: 3 },
    ],
  ])('leaves the same layout, _reload included, when %s is delivered twice', async (_label, names, counts) => {
    const messages = names.map((name) => sampleEvent(name));
    for (const message of messages) await notify(message);
    const once = await layout();

    const redelivered = await notify(messages.at(-1));

    expect(await layout()).toEqual(once);
    expect(redelivered.failed).toEqual([]);
    expect(redelivered.kinds[0]).toMatchObject({ ...counts, assigned: [], removed: [], reloaded: [] });
    expect(metrics.get(NOTIFY_METRICS.redelivered)).toBeGreaterThan(0);
  });

  it('reloads the owning instance on an update, and only it', async () => {
    await notify(sampleEvent('notify-create-thing.json'));
    await t.app.orchestrator.assign('Thing', ['other-1', 'other-2', 'other-3']);
    const before = await layout();
    const ownerId = (await owner(THING))!.id;

    const result = await notify(sampleEvent('notify-update-thing.json'));

    expect(result.kinds[0]!.reloaded).toEqual([{ instanceId: ownerId, times: expect.any(Number) }]);
    expect(result.kinds[0]!.assigned).toEqual([]);
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

    const result = await notify(sampleEvent('notify-trigger-layout.json'));

    expect(result.kinds[0]).toMatchObject({ resource: 'Thing', assigned: [] });
    expect(result.kinds[0]!.reloaded).toEqual([{ instanceId: before.id, times: expect.any(Number) }]);
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

    expect(ids(first.kinds[0]!.assigned)).toEqual(['T-via-trigger']);
    expect(second.kinds[0]!.reloaded).toEqual([{ instanceId: placed.id, times: expect.any(Number) }]);
    expect(second.kinds[0]!.assigned).toEqual([]);
    expect((await layout()).flatMap((instance) => instance.ids)).toEqual(['T-via-trigger']);
  });

  it('reloads the owners of a bulk update, once per instance', async () => {
    await notify(sampleEvent('notify-bulk-create-things.json'));
    const before = await layout();

    const result = await notify(sampleEvent('notify-bulk-update-things.json'));

    const owners = new Set(
      before
        .filter((instance) => instance.ids.some((id) => BULK.slice(0, 2).includes(id)))
        .map((instance) => instance.id),
    );
    expect(new Set(result.kinds[0]!.reloaded.map((reload) => reload.instanceId))).toEqual(owners);
    expect(result.kinds[0]!.reloaded).toHaveLength(owners.size);
    const bumps = (await layout()).map(
      (instance) => instance.reloadTimes - before.find((b) => b.id === instance.id)!.reloadTimes,
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
      expect((await notify(sampleEvent(name))).failed, name).toEqual([]);
    }

    const instances = await layout();
    expect(instances.flatMap((instance) => instance.ids)).toEqual([]);
    expect(instances.every((instance) => instance.used === 0)).toBe(true);
    expect(await t.app.orchestrator.locate('Thing', THING)).toBeUndefined();
  });

  it('places Rules apart from Things', async () => {
    const result = await notify(sampleEvent('notify-create-rule.json'));

    expect(result.kinds.map((kind) => kind.resource)).toEqual(['Rule']);
    expect((await legacyLayout(t.app, 'Rule')).flatMap((instance) => instance.ids)).toEqual([
      'f4e5d6c7-b8a9-4012-8345-6789abcdef01',
    ]);
    expect(await layout()).toEqual([]);
  });

  it('ignores other tables without touching the store', async () => {
    await notify(sampleEvent('notify-create-thing.json'));
    const before = await layout();
    const commits = t.store.commits;

    const result = await notify(sampleEvent('notify-ignored-table.json'));

    expect(result).toMatchObject({ ignored: 1, kinds: [], malformed: [], failed: [] });
    expect(await layout()).toEqual(before);
    expect(t.store.commits).toBe(commits);
    expect(metrics.get(NOTIFY_METRICS.ignored)).toBe(1);
  });

  it.each([
    ['a payload that is not JSON', '{"o":"c","t":"Thing",', ''],
    ['an invalid id', { o: 'c', t: 'Thing', k: { id: 'no spaces allowed' } }, 'k.id'],
    ['no table', { o: 'c', k: { id: 'T-1' } }, 't'],
    ['a number', 42, ''],
  ])('logs, counts and acknowledges %s, writing nothing', async (_label, message, field) => {
    const result = await notify(message);

    const payload = typeof message === 'string' ? message : JSON.stringify(message);
    expect(result.malformed).toEqual([{ id: 'm1', field, reason: expect.any(String), payload }]);
    expect(result.failed).toEqual([]);
    expect(result.kinds).toEqual([]);
    expect(metrics.get(NOTIFY_METRICS.malformed)).toBe(1);
    expect(t.store.commits).toBe(0);
  });

  it('accepts the raw MQTT payload as a Buffer', async () => {
    const result = await notify(Buffer.from(JSON.stringify(sampleEvent('notify-create-thing.json'))));

    expect(result.malformed).toEqual([]);
    expect(ids(result.kinds[0]!.assigned)).toEqual([THING]);
    expect(await owner(THING)).toBeDefined();
  });

  it('counts a bulk create without keys as needing a catalog reconcile', async () => {
    const result = await notify(sampleEvent('notify-bulk-create-without-keys.json'));

    expect(result.reconcileNeeded).toEqual(['Thing']);
    expect(result.kinds).toEqual([]);
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

    expect(first.kinds[0]).toMatchObject({ assigned: [], pending: [THING] });
    expect(second.kinds[0]).toMatchObject({ assigned: [], pending: BULK });
    expect([...first.failed, ...second.failed]).toEqual([]);
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

  it('reports the record as failed when the store is unavailable, so it is redelivered and then dead-lettered', async () => {
    t.store.goDown();

    const result = await notify(sampleEvent('notify-create-thing.json'));

    expect(result.failed).toEqual(['m1']);
    expect(result.kinds[0]).toMatchObject({ resource: 'Thing', assigned: [] });
    expect(result.kinds[0]!.error).toMatch(/connection lost/);
    expect(metrics.get(NOTIFY_METRICS.failedRecords)).toBe(1);
    expect(metrics.get(NOTIFY_METRICS.assigned)).toBe(0);
  });
});
