/** Decoding HeartBeat record values and coalescing a batch per instance. Pure. */
import { describe, expect, it } from 'vitest';
import { MskEventSchema } from '../../../lib/handlers/events.js';
import {
  boundedExtra,
  coalesceHeartbeats,
  decodeHeartbeat,
  EXTRA_LIMITS,
  MAX_HEARTBEAT_BYTES,
  mskHeartbeatRecords,
} from '../../../lib/handlers/heartbeat.js';
import { fixture } from './fixtures.js';

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

describe('decodeHeartbeat', () => {
  it('decodes a base64 value into resource, instance and the extra fields', () => {
    const beat = decodeHeartbeat(b64({ resource: 'Thing', instanceId: '3', ip: '10.0.0.7', things: 12 }));

    expect(beat).toEqual({ ok: true, resource: 'Thing', instanceId: '3', extra: { ip: '10.0.0.7', things: 12 } });
  });

  it('decodes raw JSON text when told the value is not base64', () => {
    expect(decodeHeartbeat('{"resource":"Rule","instanceId":"0"}', 'json')).toEqual({
      ok: true,
      resource: 'Rule',
      instanceId: '0',
      extra: {},
    });
  });

  it('accepts an integer instance id as its decimal text', () => {
    expect(decodeHeartbeat(b64({ resource: 'Thing', instanceId: 7 }))).toMatchObject({ ok: true, instanceId: '7' });
  });

  it.each([
    ['an empty value', '', 'record has no value'],
    ['a value that is not JSON', b64('SendHeartBeat ok'), 'not JSON'],
    ['no instanceId', b64({ resource: 'Thing' }), 'instanceId'],
    ['an instanceId that is not a small integer', b64({ resource: 'Thing', instanceId: '../../etc' }), 'instanceId'],
    ['a negative instanceId', b64({ resource: 'Thing', instanceId: -1 }), 'instanceId'],
    ['no resource', b64({ instanceId: '1' }), 'resource'],
    ['a JSON array', b64([1, 2]), 'expected object'],
  ])('rejects %s, saying why', (_label, value, reason) => {
    const beat = decodeHeartbeat(value);

    expect(beat.ok).toBe(false);
    expect(!beat.ok && beat.reason).toContain(reason);
  });

  it('refuses to parse a value larger than the cap', () => {
    const huge = b64({ resource: 'Thing', instanceId: '1', pad: 'x'.repeat(MAX_HEARTBEAT_BYTES) });

    expect(decodeHeartbeat(huge)).toMatchObject({
      ok: false,
      reason: expect.stringContaining(`more than ${MAX_HEARTBEAT_BYTES}`),
    });
  });
});

describe('boundedExtra', () => {
  it('keeps scalar fields and drops objects, arrays, long strings and long keys', () => {
    const extra = boundedExtra({
      resource: 'Thing',
      instanceId: '0',
      ip: '10.0.0.1',
      up: true,
      load: 0.5,
      note: null,
      nested: { a: 1 },
      list: [1],
      log: 'x'.repeat(EXTRA_LIMITS.stringLength + 1),
      ['k'.repeat(EXTRA_LIMITS.keyLength + 1)]: 1,
      nan: Number.NaN,
    });

    expect(extra).toEqual({ ip: '10.0.0.1', up: true, load: 0.5, note: null });
  });

  it(`keeps at most ${EXTRA_LIMITS.fields} fields`, () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, i]));

    expect(Object.keys(boundedExtra(many))).toHaveLength(EXTRA_LIMITS.fields);
  });
});

describe('coalesceHeartbeats', () => {
  const now = 1_715_675_000_000;

  it('keeps the newest beat per instance, whatever the order', () => {
    const beats = coalesceHeartbeats(
      [
        { resource: 'Thing', instanceId: '0', extra: { n: 2 }, timestamp: now - 1000 },
        { resource: 'Thing', instanceId: '0', extra: { n: 1 }, timestamp: now - 5000 },
        { resource: 'Thing', instanceId: '1', extra: {}, timestamp: now - 3000 },
        { resource: 'Rule', instanceId: '0', extra: {}, timestamp: now - 2000 },
      ],
      now,
    );

    expect(beats).toEqual([
      { resource: 'Thing', instanceId: '0', at: now - 1000, extra: { n: 2 } },
      { resource: 'Thing', instanceId: '1', at: now - 3000 },
      { resource: 'Rule', instanceId: '0', at: now - 2000 },
    ]);
  });

  it('lets the later record win a tie', () => {
    const beats = coalesceHeartbeats(
      [
        { resource: 'Thing', instanceId: '0', extra: { n: 1 }, timestamp: now },
        { resource: 'Thing', instanceId: '0', extra: { n: 2 }, timestamp: now },
      ],
      now,
    );

    expect(beats).toEqual([{ resource: 'Thing', instanceId: '0', at: now, extra: { n: 2 } }]);
  });

  it('counts a future timestamp as now, and a missing one as the receive time', () => {
    const beats = coalesceHeartbeats(
      [
        { resource: 'Thing', instanceId: '0', extra: {}, timestamp: now + 3_600_000 },
        { resource: 'Thing', instanceId: '1', extra: {} },
        { resource: 'Thing', instanceId: '2', extra: {}, timestamp: -1 },
      ],
      now,
    );

    expect(beats.map((beat) => beat.at)).toEqual([now, now, now]);
  });

  it('reduces the golden MSK batch to one beat per instance, the newest for instance 0', () => {
    const { records } = mskHeartbeatRecords(MskEventSchema.parse(fixture('msk-heartbeat-batch.json')));
    const decoded = records.map((record) => {
      const beat = decodeHeartbeat(record.value);
      if (!beat.ok) throw new Error(beat.reason);
      return { ...beat, timestamp: record.timestamp };
    });

    const beats = coalesceHeartbeats(decoded, now);

    expect(beats.map((beat) => [beat.instanceId, beat.at, beat.extra?.things])).toEqual([
      ['0', 1715674927000, 413],
      ['2', 1715674901000, 388],
      ['1', 1715674899000, 405],
    ]);
  });
});
