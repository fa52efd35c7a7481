/** Decoding HeartBeat record values and coalescing a batch per instance. Pure. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../lib/app.js';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { MskEventSchema, MskRecordSchema } from '../../../lib/handlers/events.js';
import {
  boundedExtra,
  coalesceHeartbeats,
  decodeHeartbeat,
  EXTRA_LIMITS,
  handleHeartbeatRecords,
  handleMskEvent,
  HeartbeatMessageSchema,
  MAX_HEARTBEAT_BYTES,
  mskHeartbeatRecords,
} from '../../../lib/handlers/heartbeat.js';
import type { HeartbeatInput } from '../../../lib/orchestration/types.js';
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
      field: 'value',
      reason: expect.stringContaining(`more than ${MAX_HEARTBEAT_BYTES}`),
    });
  });

  it('decodes a value of exactly the cap, and a short value after it reads only its own bytes', () => {
    const head = '{"resource":"Thing","instanceId":"1","pad":"';
    const full = `${head}${'x'.repeat(MAX_HEARTBEAT_BYTES - head.length - 2)}"}`;
    expect(Buffer.byteLength(full)).toBe(MAX_HEARTBEAT_BYTES);

    expect(decodeHeartbeat(b64(full))).toMatchObject({ ok: true, instanceId: '1' });
    expect(decodeHeartbeat(b64({ resource: 'Rule', instanceId: '2' }))).toEqual({
      ok: true,
      resource: 'Rule',
      instanceId: '2',
      extra: {},
    });
  });

  it('names the field at fault', () => {
    expect(decodeHeartbeat(b64({ resource: 'Thing', instanceId: 'x' }))).toMatchObject({ field: 'instanceId' });
    expect(decodeHeartbeat(b64({ resource: 'thing-1', instanceId: '1' }))).toMatchObject({ field: 'resource' });
    expect(decodeHeartbeat(b64('[]'))).toMatchObject({ field: '' });
    expect(decodeHeartbeat(b64('{'))).toMatchObject({ field: 'value' });
    expect(decodeHeartbeat('')).toMatchObject({ field: 'value' });
  });
});

/** What the schema alone makes of a JSON text: the verdict the fast path must agree with. */
const bySchema = (text: string) => {
  const result = HeartbeatMessageSchema.safeParse(JSON.parse(text));
  return result.success
    ? { ok: true, resource: result.data.resource, instanceId: result.data.instanceId, extra: boundedExtra(result.data) }
    : { ok: false };
};

describe('decodeHeartbeat agrees with the schema on every shape', () => {
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, i]));
  it.each([
    '{"resource":"Thing","instanceId":"3","ip":"10.0.0.7","things":12}',
    '{"instanceId":"3","resource":"Thing"}',
    '{"resource":"Thing","instanceId":3}',
    '{"resource":"Thing","instanceId":3.5}',
    '{"resource":"Thing","instanceId":-0}',
    '{"resource":"Thing","instanceId":1e400}',
    '{"resource":"Thing","instanceId":"01"}',
    '{"resource":"Thing","instanceId":"1000000"}',
    '{"resource":"Thing","instanceId":" 1"}',
    '{"resource":"Thing","instanceId":"1\\n"}',
    '{"resource":"Thing","instanceId":null}',
    '{"resource":"Thing","instanceId":["1"]}',
    '{"resource":"thing_2","instanceId":"0"}',
    '{"resource":"2Thing","instanceId":"0"}',
    '{"resource":"Thing\\n","instanceId":"0"}',
    `{"resource":"${'T'.repeat(64)}","instanceId":"0"}`,
    `{"resource":"${'T'.repeat(65)}","instanceId":"0"}`,
    '{"resource":7,"instanceId":"0"}',
    '{"resource":"Thing","instanceId":"0","resource":"Bad name"}',
    '{"resource":"Bad name","instanceId":"0","resource":"Thing"}',
    '{"resource":"Thing","instanceId":"0","__proto__":null,"a":1}',
    '{"resource":"Thing","instanceId":"0","__proto__":{"resource":"x"},"a":1}',
    '{"resource":"Thing","instanceId":"0","constructor":1,"hasOwnProperty":"x","2":true,"1":null}',
    '{"resource":"Thing","instanceId":"0","nested":{"a":1},"list":[1],"ok":true}',
    JSON.stringify({ resource: 'Thing', instanceId: '9', ...many }),
    '{"resource":"Thing","instanceId":"0","ünï":"cödé ✓"}',
    '{}',
    '[]',
    '[{"resource":"Thing","instanceId":"0"}]',
    'null',
    '"Thing"',
    '42',
  ])('%s', (text) => {
    const expected = bySchema(text);

    for (const beat of [decodeHeartbeat(text, 'json'), decodeHeartbeat(b64(text))]) {
      expect(beat.ok).toBe(expected.ok);
      if (beat.ok && expected.ok) {
        expect(beat).toEqual(expected);
        expect(Object.keys(beat.extra)).toEqual(Object.keys(expected.extra!));
        expect(Object.getPrototypeOf(beat.extra)).toBe(Object.getPrototypeOf(expected.extra));
      }
    }
  });

  it.each([
    ['URL-safe alphabet', Buffer.from('{"resource":"Thing","instanceId":"1","k":"??>>"}').toString('base64url')],
    ['no padding', b64({ resource: 'Thing', instanceId: '1', a: 'x' }).replace(/=+$/, '')],
    ['line breaks', b64({ resource: 'Thing', instanceId: '1', note: 'a long enough note' }).replace(/(.{8})/g, '$1\n')],
    [
      'invalid UTF-8',
      Buffer.concat([
        Buffer.from('{"resource":"Thing","instanceId":"1","n":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ]).toString('base64'),
    ],
  ])('reads base64 with %s as Buffer.from does', (_label, value) => {
    expect(decodeHeartbeat(value)).toEqual(decodeHeartbeat(Buffer.from(value, 'base64').toString('utf8'), 'json'));
  });
});

describe('mskHeartbeatRecords agrees with MskRecordSchema on every shape', () => {
  const good = { topic: 'HeartBeat', partition: 0, offset: 7, timestamp: 1715674897000, value: b64('{}') };
  class Header {
    readonly a = [1];
  }
  it.each([
    ['the usual record', good],
    [
      'every optional field',
      { ...good, timestampType: 'CREATE_TIME', key: 'a2V5', headers: [{ 'content-type': [97] }] },
    ],
    ['null key and value', { ...good, key: null, value: null }],
    ['no value', { topic: 'HeartBeat', partition: 0, offset: 7 }],
    ['fields present but undefined', { ...good, timestamp: undefined, key: undefined, headers: undefined }],
    ['a negative timestamp', { ...good, timestamp: -1 }],
    ['an infinite timestamp', { ...good, timestamp: Number.POSITIVE_INFINITY }],
    ['a NaN timestamp', { ...good, timestamp: Number.NaN }],
    ['a string timestamp', { ...good, timestamp: '1715674897000' }],
    ['a string partition', { ...good, partition: 'zero' }],
    ['a fractional offset', { ...good, offset: 7.5 }],
    ['a negative offset', { ...good, offset: -1 }],
    ['an offset of -0', { ...good, offset: -0 }],
    ['an unsafe offset', { ...good, offset: 2 ** 60 }],
    ['the largest safe offset', { ...good, offset: Number.MAX_SAFE_INTEGER }],
    ['no topic', { partition: 0, offset: 7 }],
    ['a numeric value', { ...good, value: 42 }],
    ['a numeric key', { ...good, key: 42 }],
    ['a numeric timestampType', { ...good, timestampType: 1 }],
    ['empty headers', { ...good, headers: [] }],
    ['an empty header', { ...good, headers: [{}] }],
    ['headers as an object', { ...good, headers: { a: [1] } }],
    ['a header that is an array', { ...good, headers: [[]] }],
    ['a null header', { ...good, headers: [null] }],
    ['a fractional header byte', { ...good, headers: [{ a: [1.5] }] }],
    ['a string header value', { ...good, headers: [{ a: 'x' }] }],
    ['a class instance as header', { ...good, headers: [new Header()] }],
    ['a header without prototype', { ...good, headers: [Object.assign(Object.create(null), { a: [1] })] }],
    ['a header with a symbol key', { ...good, headers: [{ a: [1], [Symbol('s')]: [2] }] }],
    ['a header named __proto__', { ...good, headers: [JSON.parse('{"__proto__":"x"}')] }],
    ['an array', [good]],
    ['null', null],
    ['a string', 'record'],
  ])('%s', (_label, raw) => {
    const zod = MskRecordSchema.safeParse(raw);

    const { records, invalid } = mskHeartbeatRecords({ eventSource: 'aws:kafka', records: { 'HeartBeat-0': [raw] } });

    expect(invalid).toHaveLength(zod.success ? 0 : 1);
    if (zod.success) {
      const { value, timestamp, topic, partition, offset } = zod.data;
      expect(records).toEqual([
        {
          value: value ?? '',
          timestamp: timestamp !== undefined && timestamp >= 0 ? timestamp : undefined,
          topic,
          partition,
          offset,
        },
      ]);
    } else expect(records).toEqual([]);
  });
});

describe('handleMskEvent', () => {
  const NOW = 1_715_675_100_000;
  /** An App whose store takes the beats it is given: enough for the handler, which only decodes and coalesces. */
  const capturing = () => {
    const stored: HeartbeatInput[][] = [];
    const app = {
      logger: pino({ level: 'silent' }),
      clock: () => NOW,
      kinds: DEFAULT_KINDS,
      orchestrator: {
        recordHeartbeats: async (beats: readonly HeartbeatInput[]) => {
          stored.push([...beats]);
          return { writes: beats.length, instances: beats.length };
        },
      },
    } as unknown as App;
    return { app, stored };
  };

  it('reads the Kafka records as mskHeartbeatRecords hands them to handleHeartbeatRecords', async () => {
    const value = (instanceId: string) => b64({ resource: 'Thing', instanceId, n: instanceId });
    const event = {
      eventSource: 'aws:kafka',
      records: {
        'HeartBeat-0': [
          { topic: 'HeartBeat', partition: 0, offset: 1, timestamp: NOW - 5000, value: value('1') },
          { topic: 'HeartBeat', partition: 0, offset: 2, timestamp: -1, value: value('2') },
          { topic: 'HeartBeat', partition: 0, offset: 3, timestamp: 0, value: value('3') },
          { topic: 'HeartBeat', partition: 0, offset: 4, value: value('4') },
          { topic: 'HeartBeat', partition: 0, offset: 5, timestamp: NOW + 60_000, value: value('5') },
          { topic: 'HeartBeat', partition: 0, offset: 6, value: null },
          { topic: 'HeartBeat', partition: 0, offset: 7, key: 'eA==' },
          { topic: 'HeartBeat', partition: 0, offset: 8, timestamp: NOW - 9000, value: value('1') },
          { topic: 'HeartBeat', partition: '0', offset: 9, value: value('9') },
          { topic: 'HeartBeat', partition: 0, offset: 10, value: b64({ resource: 'Gadget', instanceId: '1' }) },
        ],
      },
    };
    const direct = capturing();
    const { records, invalid } = mskHeartbeatRecords(MskEventSchema.parse(event));
    const viaRecords = await handleHeartbeatRecords(direct.app, records, undefined, { now: () => NOW });
    const lambda = capturing();

    const viaEvent = await handleMskEvent(lambda.app, event, undefined, { now: () => NOW });

    expect(viaEvent).toEqual({ ...viaRecords, records: 10, malformed: viaRecords.malformed + invalid.length });
    expect(viaEvent).toEqual({ records: 10, malformed: 3, ignored: 1, writes: 5, instances: 5 });
    expect(lambda.stored).toEqual(direct.stored);
    expect(lambda.stored[0]!.map((beat) => [beat.instanceId, beat.at])).toEqual([
      ['1', NOW - 5000],
      ['2', NOW],
      ['3', NOW],
      ['4', NOW],
      ['5', NOW],
    ]);
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
