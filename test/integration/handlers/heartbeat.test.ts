/**
 * HeartBeat batches end to end: MSK events through handleMskEvent and
 * records through handleHeartbeatRecords into a real store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handleHeartbeatRecords, handleMskEvent, HEARTBEAT_METRICS } from '../../../lib/handlers/heartbeat.js';
import { Metrics } from '../../../lib/metrics.js';
import { StoreUnavailableError } from '../../../lib/store/port.js';
import { STORE_ADAPTERS } from '../../support/stores.js';
import { fixture, sampleEvent } from '../../unit/handlers/fixtures.js';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';

/** After the fixtures' record times, so none counts as "from the future". */
const NOW = 1_715_675_100_000;

describe.each(STORE_ADAPTERS)('HeartBeat on %s', (adapter) => {
  let t: TestApp;
  let metrics: Metrics;
  beforeEach(async () => {
    t = await openTestApp(adapter, { label: 'heartbeat' });
    metrics = new Metrics('test', {}, () => undefined);
  });
  afterEach(async () => {
    await t.close();
  });

  it('stores the newest beat of each instance from an MSK batch, with its extra fields', async () => {
    const result = await handleMskEvent(t.app, fixture('msk-heartbeat-batch.json'), metrics, { now: () => NOW });

    expect(result).toEqual({ records: 4, malformed: 0, ignored: 0, writes: 3, instances: 3 });
    const beats = await t.app.orchestrator.heartbeats('Thing');
    expect(Object.fromEntries([...beats].map(([id, beat]) => [id, beat]))).toEqual({
      '0': { at: 1715674927000, extra: { ip: '10.0.12.31', version: '3.4.2', things: 413 } },
      '1': { at: 1715674899000, extra: { ip: '10.0.13.52', version: '3.4.2', things: 405 } },
      '2': { at: 1715674901000, extra: { ip: '10.0.14.7', version: '3.4.2', things: 388 } },
    });
  });

  it('skips and counts poison records, storing the good ones of the same batch', async () => {
    const result = await handleMskEvent(t.app, fixture('msk-heartbeat-poison.json'), metrics, { now: () => NOW });

    // 7 records: instances 3 and 4 are fine; not JSON, no instanceId, no value, a path as instanceId, a partition of the wrong type are not.
    expect(result).toEqual({ records: 7, malformed: 5, ignored: 0, writes: 2, instances: 2 });
    expect([...(await t.app.orchestrator.heartbeats('Thing')).keys()].sort()).toEqual(['3', '4']);
    expect(metrics.get(HEARTBEAT_METRICS.malformed)).toBe(5);
    expect(metrics.get(HEARTBEAT_METRICS.records)).toBe(7);
  });

  it('never moves a stored beat backwards when an older batch is redelivered', async () => {
    await handleMskEvent(t.app, fixture('msk-heartbeat-batch.json'), metrics, { now: () => NOW });
    const commits = t.store.commits;

    const again = await handleMskEvent(t.app, sampleEvent('heartbeat-msk.json'), metrics, { now: () => NOW });

    expect(again.writes).toBe(0);
    expect(t.store.commits).toBe(commits);
    expect((await t.app.orchestrator.heartbeats('Thing')).get('0')?.at).toBe(1715674927000);
  });

  it('writes at most once per instance however many beats the batch holds', async () => {
    const records = Array.from({ length: 600 }, (_, i) => ({
      value: JSON.stringify({ resource: 'Thing', instanceId: String(i % 6), seq: i }),
      timestamp: NOW - 600 + i,
    }));

    const result = await handleHeartbeatRecords(t.app, records, metrics, { encoding: 'json', now: () => NOW });

    expect(result).toEqual({ records: 600, malformed: 0, ignored: 0, writes: 6, instances: 6 });
    expect(t.store.commits).toBe(6);
    expect((await t.app.orchestrator.heartbeats('Thing')).get('5')).toEqual({ at: NOW - 1, extra: { seq: 599 } });
  });

  it('ignores beats of kinds that are not configured', async () => {
    const result = await handleHeartbeatRecords(t.app, [{ value: '{"resource":"Gadget","instanceId":"0"}' }], metrics, {
      encoding: 'json',
      now: () => NOW,
    });

    expect(result).toMatchObject({ ignored: 1, writes: 0 });
  });

  it('returns without throwing when the event is not a Kafka batch at all', async () => {
    const result = await handleMskEvent(t.app, { Records: [] }, metrics);

    expect(result).toEqual({ records: 0, malformed: 0, ignored: 0, writes: 0, instances: 0 });
    expect(metrics.get(HEARTBEAT_METRICS.malformedBatches)).toBe(1);
  });

  it('throws when the store is unavailable, so the batch is retried', async () => {
    t.store.goDown();

    await expect(
      handleMskEvent(t.app, fixture('msk-heartbeat-batch.json'), metrics, { now: () => NOW }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
