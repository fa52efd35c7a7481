/**
 * cm/notify batches through the notify function's SQS entry point into a
 * real store: folding per kind in message order, one write per touched
 * instance, malformed records acknowledged with their first bytes in the log, and
 * only a failing kind's records reported back for redelivery.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { handleNotifyBatch, LOGGED_PAYLOAD_BYTES } from '../../../lib/handlers/notify-batch.js';
import { Metrics } from '../../../lib/metrics.js';
import { StoreUnavailableError } from '../../../lib/store/port.js';
import { STORE_ADAPTERS } from '../../support/stores.js';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';
import { legacyLayout } from './layout-snapshot.js';

const create = (id: string, t = 'Thing') => ({ o: 'c', t, k: { id } });
const remove = (id: string, t = 'Thing') => ({ o: 'd', t, k: { id } });
const records = (...messages: unknown[]) =>
  messages.map((message, i) => ({
    id: `m${i}`,
    payload: typeof message === 'string' ? message : JSON.stringify(message),
  }));

describe.each(STORE_ADAPTERS)('cm/notify batches on %s', (adapter) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });
  const metrics = () => new Metrics('test', {}, () => undefined);

  it('folds a batch in message order: the last create or delete of an id wins, duplicates collapse', async () => {
    t = await openTestApp(adapter, { label: 'notify-batch' });
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 3 }, 'test');
    await t.app.orchestrator.assign('Thing', ['was-there']);
    const before = await legacyLayout(t.app, 'Thing');

    const result = await handleNotifyBatch(
      t.app,
      records(
        create('a'),
        remove('a'), // created then deleted in the same batch: never placed
        create('b'),
        create('b'), // a duplicate
        remove('was-there'),
        create('was-there'), // deleted then created: still placed
        remove('never-seen'),
        { o: 'bc', t: 'Thing', keys: [{ id: 'c' }, { id: 'd' }] },
        { o: 'bd', t: 'Thing', where: { id: { in: ['d'] } } },
        { o: 'u', t: 'Thing', k: { id: 'b' } }, // a reload of an id this batch assigns: nothing more
      ),
      metrics(),
    );

    expect(result.failed).toEqual([]);
    const after = await legacyLayout(t.app, 'Thing');
    expect(after.flatMap((instance) => instance.ids).sort()).toEqual(['b', 'c', 'was-there']);
    expect(result.kinds).toHaveLength(1);
    expect(result.kinds[0]).toMatchObject({ resource: 'Thing', records: 10, alreadyAssigned: 1 });
    expect(result.kinds[0]!.assigned.map((placement) => placement.id).sort()).toEqual(['b', 'c']);
    // One assign and one unassign for the whole batch: each instance's _reload moved at most twice.
    for (const instance of after) {
      const was = before.find((b) => b.id === instance.id)!;
      expect(instance.reloadTimes - was.reloadTimes, `instance ${instance.id}`).toBeLessThanOrEqual(2);
      expect(instance.used).toBe(instance.ids.length);
    }
  });

  it('writes each touched instance once for a batch of 100 creates', async () => {
    t = await openTestApp(adapter, { label: 'notify-batch' });
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 4 }, 'test');
    const before = await legacyLayout(t.app, 'Thing');
    const commits = t.store.commits;

    const ids = Array.from({ length: 100 }, (_, i) => `thing-${i}`);
    const result = await handleNotifyBatch(t.app, records(...ids.map((id) => create(id))), metrics());

    expect(result.kinds[0]!.assigned).toHaveLength(100);
    const after = await legacyLayout(t.app, 'Thing');
    expect(
      after.map((instance) => instance.reloadTimes - before.find((b) => b.id === instance.id)!.reloadTimes),
    ).toEqual([1, 1, 1, 1]);
    expect(t.store.commits - commits).toBe(1);
  });

  it('acknowledges malformed records, logging the reason and the first 200 bytes of each, and applies the rest', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    t = await openTestApp(adapter, { label: 'notify-batch', logger });
    // 199 bytes, then a two-byte character across the 200th byte: the excerpt ends before it, never inside it.
    const head = `{"o":"c",${'x'.repeat(LOGGED_PAYLOAD_BYTES - 10)}`;
    const huge = `${head}é${'y'.repeat(3000)}`;
    const cut = `${head}…(${Buffer.byteLength(huge)} bytes)`;
    const longId = JSON.stringify(create('z'.repeat(3000)));

    const result = await handleNotifyBatch(
      t.app,
      [
        { id: 'short', payload: '{"o":"c",' },
        { id: 'sqs', payload: huge }, // an SQS body is text
        { id: 'mqtt', payload: Buffer.from(huge) }, // an MQTT payload is bytes
        { id: 'bad-id', payload: longId },
        { id: 'fine', payload: JSON.stringify(create('fine')) },
      ],
      metrics(),
    );

    expect(result.failed).toEqual([]);
    expect(await t.app.orchestrator.locate('Thing', 'fine')).toBeDefined();
    expect(result.malformed).toEqual([
      { id: 'short', field: '', reason: expect.stringMatching(/^payload is not JSON/), payload: '{"o":"c",' },
      { id: 'sqs', field: '', reason: expect.stringMatching(/^payload is not JSON/), payload: cut },
      { id: 'mqtt', field: '', reason: expect.stringMatching(/^payload is not JSON/), payload: cut },
      {
        id: 'bad-id',
        field: 'k.id',
        reason: expect.any(String),
        payload: `${longId.slice(0, LOGGED_PAYLOAD_BYTES)}…(${longId.length} bytes)`,
      },
    ]);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const dropped = logged.filter((line) => line.msg === 'malformed cm/notify message dropped');
    expect(dropped.map(({ record, field, reason, payload }) => ({ id: record, field, reason, payload }))).toEqual(
      result.malformed,
    );
  });

  it("reports only a failing kind's records for redelivery; the other kind is applied", async () => {
    t = await openTestApp(adapter, { label: 'notify-batch', kinds: DEFAULT_KINDS });
    await t.app.orchestrator.orchestrate('Rule', { initInstances: 3 }, 'test');
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 3 }, 'test');
    t.store.failCommit = (ops) =>
      ops.some((op) => op.path.includes('/Rule/')) ? new StoreUnavailableError('Rule store down (test)') : undefined;

    const result = await handleNotifyBatch(
      t.app,
      records(create('t1'), create('r1', 'Rule'), create('t2'), remove('r0', 'Rule'), '["not an object"]'),
      metrics(),
    );

    expect([...result.failed].sort()).toEqual(['m1', 'm3']);
    expect(result.kinds.find((kind) => kind.resource === 'Rule')?.error).toContain('Rule store down');
    expect(await t.app.orchestrator.locate('Thing', 't1')).toBeDefined();
    expect(await t.app.orchestrator.locate('Thing', 't2')).toBeDefined();
    expect(await t.app.orchestrator.locate('Rule', 'r1')).toBeUndefined();
  });
});
