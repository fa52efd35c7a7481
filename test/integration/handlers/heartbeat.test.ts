/**
 * HeartBeat batches end to end: MSK events through handleMskEvent and
 * records through handleHeartbeatRecords into a real store.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handleHeartbeatRecords, handleMskEvent, HEARTBEAT_METRICS } from '../../../lib/handlers/heartbeat.js';
import { LOGGED_VALUE_CHARS, MAX_HEARTBEAT_BYTES } from '../../../lib/handlers/heartbeat-decode.js';
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

  it('logs the first malformed records with their position, field and a truncated copy, then a total', async () => {
    const lines: string[] = [];
    await t.close();
    t = await openTestApp(adapter, {
      label: 'heartbeat',
      logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(line) }),
    });
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const bad = [
      b64('{"resource":"Thing","instanceId":"x"}'),
      b64(`{"resource":"Thing","instanceId":"1","pad":"${'p'.repeat(MAX_HEARTBEAT_BYTES)}"}`),
      b64(`not json ${'n'.repeat(2 * LOGGED_VALUE_CHARS)}`),
      ...Array.from({ length: 9 }, () => b64('[]')),
    ];
    const records = [...bad, b64('{"resource":"Thing","instanceId":"2"}')].map((value, i) => ({
      value,
      topic: 'HeartBeat',
      partition: 0,
      offset: i,
      timestamp: NOW - 1000,
    }));

    const result = await handleHeartbeatRecords(t.app, records, metrics, { now: () => NOW });

    expect(result).toEqual({ records: 13, malformed: 12, ignored: 0, writes: 1, instances: 1 });
    const logged = lines.map(
      (line) =>
        JSON.parse(line) as { msg: string; record?: string; field?: string; payload?: string; malformed?: number },
    );
    const skipped = logged.filter((line) => line.msg === 'malformed heartbeat record skipped');
    expect(skipped.map((line) => [line.record, line.field])).toEqual([
      ['HeartBeat-0@0', 'instanceId'],
      ['HeartBeat-0@1', 'value'],
      ['HeartBeat-0@2', 'value'],
      ...Array.from({ length: 7 }, (_, i) => [`HeartBeat-0@${i + 3}`, '']),
    ]);
    expect(skipped[0]!.payload).toBe('{"resource":"Thing","instanceId":"x"}');
    expect(skipped[1]!.payload).toMatch(/^\{"resource":"Thing","instanceId":"1","pad":"p+…$/);
    expect(skipped[1]!.payload!.length).toBeLessThanOrEqual(LOGGED_VALUE_CHARS + 1);
    expect(skipped[2]!.payload).toBe(
      `not json ${'n'.repeat(LOGGED_VALUE_CHARS - 9)}…(${9 + 2 * LOGGED_VALUE_CHARS} chars)`,
    );
    expect(logged.filter((line) => line.msg === 'more malformed heartbeat records skipped')).toMatchObject([
      { malformed: 12 },
    ]);
  });

  it('counts poison records exactly in a 10,000-record batch and stores the newest good beat of each instance', async () => {
    const poison = ['', 'bm90IGpzb24=', Buffer.from('{"resource":"Thing"}').toString('base64'), '!!!!'];
    const records = Array.from({ length: 10_000 }, (_, i) => ({
      value:
        i % 97 === 0
          ? poison[i % poison.length]!
          : Buffer.from(
              JSON.stringify({ resource: i % 5 === 0 ? 'Gadget' : 'Thing', instanceId: String(i % 50), seq: i }),
            ).toString('base64'),
      timestamp: NOW - 10_000 + i,
    }));
    const malformed = records.filter((_, i) => i % 97 === 0).length;
    const ignored = records.filter((_, i) => i % 97 !== 0 && i % 5 === 0).length;

    const result = await handleHeartbeatRecords(t.app, records, metrics, { now: () => NOW });

    expect(result).toEqual({ records: 10_000, malformed, ignored, writes: 40, instances: 40 });
    expect(metrics.get(HEARTBEAT_METRICS.malformed)).toBe(malformed);
    expect(metrics.get(HEARTBEAT_METRICS.ignored)).toBe(ignored);
    const beats = await t.app.orchestrator.heartbeats('Thing');
    expect(beats.size).toBe(40);
    expect(beats.get('49')).toEqual({ at: NOW - 1, extra: { seq: 9_999 } });
  });

  it('writes each instance at most once, all in one transaction, however many beats the batch holds', async () => {
    const records = Array.from({ length: 600 }, (_, i) => ({
      value: JSON.stringify({ resource: 'Thing', instanceId: String(i % 6), seq: i }),
      timestamp: NOW - 600 + i,
    }));

    const result = await handleHeartbeatRecords(t.app, records, metrics, { encoding: 'json', now: () => NOW });

    expect(result).toEqual({ records: 600, malformed: 0, ignored: 0, writes: 6, instances: 6 });
    expect(t.store.commits).toBe(1);
    expect((await t.app.orchestrator.heartbeats('Thing')).get('5')).toEqual({ at: NOW - 1, extra: { seq: 599 } });
  });

  it('keeps the newest beat of each instance when two batches race on the same nodes', async () => {
    const batch = (offset: number) =>
      Array.from({ length: 6 }, (_, i) => ({
        value: JSON.stringify({ resource: 'Thing', instanceId: String(i), seq: offset + i }),
        // The first batch is oldest; batch 100 is newer for instances 0-2, batch 200 for 3-5.
        timestamp: offset === 0 ? NOW - 300 : NOW - ((offset === 100) === i < 3 ? 10 : 20),
      }));
    await handleHeartbeatRecords(t.app, batch(0), metrics, { encoding: 'json', now: () => NOW });

    // Both read the same versions; one transaction wins, the other's fails and falls back to one beat at a time.
    await Promise.all([
      handleHeartbeatRecords(t.app, batch(100), metrics, { encoding: 'json', now: () => NOW }),
      handleHeartbeatRecords(t.app, batch(200), metrics, { encoding: 'json', now: () => NOW }),
    ]);

    const stored = await t.app.orchestrator.heartbeats('Thing');
    expect([...stored.keys()].sort()).toEqual(['0', '1', '2', '3', '4', '5']);
    for (let i = 0; i < 6; i++) {
      expect(stored.get(String(i))?.extra).toEqual({ seq: (i < 3 ? 100 : 200) + i });
    }
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
