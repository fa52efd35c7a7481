/** Reading HeartBeat record values and batches: the quick scan, the full read and coalescing per instance. Pure. */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { encodeHeartbeat } from '../../../lib/agent/heartbeat-sender.js';
import type { App } from '../../../lib/app.js';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { MskEventSchema, MskRecordSchema } from '../../../lib/handlers/events.js';
import { handleMskEvent } from '../../../lib/handlers/heartbeat.js';
import {
  boundedExtra,
  decodeHeartbeat,
  EXTRA_LIMITS,
  type HeartbeatEncoding,
  HeartbeatMessageSchema,
  type HeartbeatRecordLike,
  instanceOfKey,
  LOGGED_VALUE_CHARS,
  MAX_HEARTBEAT_BYTES,
  readHeartbeatBatch,
  readMskRecords,
} from '../../../lib/handlers/heartbeat-decode.js';
import { OTHER_KIND, scanHeartbeat, UNSURE } from '../../../lib/handlers/heartbeat-scan.js';
import type { HeartbeatInput } from '../../../lib/orchestration/types.js';
import { fixture } from './fixtures.js';

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

const NOW = 1_715_675_000_000;
const KINDS = ['Thing', 'Rule'];

const read = (
  records: ReadonlyArray<HeartbeatRecordLike>,
  options: { encoding?: HeartbeatEncoding; kinds?: readonly string[]; logLimit?: number } = {},
) =>
  readHeartbeatBatch(records, {
    kinds: options.kinds ?? KINDS,
    now: NOW,
    encoding: options.encoding ?? 'base64',
    logLimit: options.logLimit ?? 10,
  });

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

  it('names the field at fault', () => {
    expect(decodeHeartbeat(b64({ resource: 'Thing', instanceId: 'x' }))).toMatchObject({ field: 'instanceId' });
    expect(decodeHeartbeat(b64({ resource: 'thing-1', instanceId: '1' }))).toMatchObject({ field: 'resource' });
    expect(decodeHeartbeat(b64('[]'))).toMatchObject({ field: '' });
    expect(decodeHeartbeat(b64('{'))).toMatchObject({ field: 'value' });
    expect(decodeHeartbeat('')).toMatchObject({ field: 'value' });
  });
});

/* ------------------------------------------------------------ quick scan */

/** What JSON.parse and the schema make of the UTF-8 text of some bytes: the verdict the quick scan must not contradict. */
const bySchemaBytes = (bytes: Uint8Array): { resource: string; instanceId: string } | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  const result = HeartbeatMessageSchema.safeParse(parsed);
  return result.success ? { resource: result.data.resource, instanceId: result.data.instanceId } : undefined;
};

/** The scan of bytes placed in a larger buffer whose tail must not be read. */
const scanWithTail = (bytes: Uint8Array, tail: Uint8Array): number => {
  const buffer = Buffer.concat([bytes, tail]);
  return scanHeartbeat(buffer, bytes.length, KINDS);
};

const whitespace = fc.constantFrom('', ' ', '\n', '\t ', '\r\n  ');
/** Mostly values the schema accepts, so that the property meets accepted texts as often as rejected ones. */
const resourceValue = fc.oneof(
  { arbitrary: fc.constantFrom('Thing', 'Rule', 'Gadget'), weight: 6 },
  fc.constantFrom('thing_2', '2Thing', 'Thing ', '', 'T'.repeat(64), 'T'.repeat(65)),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const instanceValue = fc.oneof(
  { arbitrary: fc.nat({ max: 1_200_000 }).map(String), weight: 6 },
  fc.constantFrom('0', '01', '00', '999999', '1000000', '-1', ' 1', '1 ', '１'),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const anyKey = fc.oneof(fc.constantFrom('resource', 'instanceId', '__proto__', 'ip', 'things', ''), fc.string());
/** A field's value as text: JSON, or a token of number characters that JSON may or may not read as a number. */
const valueText = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.string({ unit: fc.constantFrom(...'-+.eE019'), minLength: 1, maxLength: 6 }),
);
/** Heartbeat-like JSON text: the two fields (either may be missing, repeated or odd) among others, in any order. */
const heartbeatLikeText = fc
  .tuple(
    resourceValue.map((value) => JSON.stringify(value)),
    instanceValue.map((value) => JSON.stringify(value)),
    fc.array(fc.tuple(anyKey, valueText), { maxLength: 5 }),
    whitespace,
    fc.nat({ max: 9 }).map((n) => n === 0),
    fc.boolean(),
  )
  .chain(([resource, instanceId, others, space, escapeKeys, keepAll]) => {
    const entries = [['resource', resource] as const, ['instanceId', instanceId] as const, ...others];
    return fc.shuffledSubarray(entries, { minLength: keepAll ? entries.length : 0 }).map((kept) => {
      // An escaped key means the same to JSON.parse: "\u0072esource" is "resource".
      const key = (name: string) =>
        escapeKeys && name.length > 0
          ? `"\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(name).slice(2)}`
          : JSON.stringify(name);
      const fields = kept.map(([name, value]) => `${space}${key(name)}${space}:${space}${value}`);
      return `${space}{${fields.join(',')}${space}}${space}`;
    });
  });
/** The bytes of a text with one byte inserted, replaced or deleted: near misses of every kind, invalid UTF-8 included. */
const mutatedBytes = fc
  .tuple(
    heartbeatLikeText,
    fc.nat(),
    fc.constantFrom('insert', 'replace', 'delete'),
    fc.oneof(fc.constantFrom(...Buffer.from('{}[]":,\\ 0123456789-+.eEtrufalsn')), fc.integer({ min: 0, max: 255 })),
  )
  .map(([text, at, edit, byte]) => {
    const bytes = [...Buffer.from(text)];
    const i = bytes.length > 0 ? at % bytes.length : 0;
    if (edit === 'insert') bytes.splice(i, 0, byte);
    else if (edit === 'replace') bytes.splice(i, 1, byte);
    else bytes.splice(i, 1);
    return Uint8Array.from(bytes);
  });

describe('scanHeartbeat', () => {
  it('accepts nothing JSON.parse and the schema reject, and reads the same resource and instance', () => {
    const bytes = fc.oneof(
      { arbitrary: heartbeatLikeText.map((text) => Uint8Array.from(Buffer.from(text))), weight: 3 },
      { arbitrary: mutatedBytes, weight: 3 },
      fc.json().map((text) => Uint8Array.from(Buffer.from(text))),
      fc.uint8Array({ maxLength: 64 }),
    );
    const tail = fc.oneof(
      fc.constant(new Uint8Array()),
      fc.constantFrom(...['"}', '0"}', ' ', '}'].map((text) => Buffer.from(text))),
    );
    let accepted = 0;

    fc.assert(
      fc.property(bytes, tail, (value, after) => {
        const key = scanHeartbeat(value, value.length, KINDS);
        expect(scanWithTail(value, after)).toBe(key);
        if (key === UNSURE) return;
        accepted++;
        const expected = bySchemaBytes(value);
        expect(expected).toBeDefined();
        if (key === OTHER_KIND) expect(KINDS).not.toContain(expected!.resource);
        else expect(instanceOfKey(key, KINDS)).toEqual(expected);
      }),
      // 4,000: about 1 in 36 values here is accepted, so 2,000 runs accepted 40-66 and sometimes missed the floor.
      { numRuns: 4000 },
    );
    // The property would hold vacuously for a scan that accepts nothing.
    expect(accepted).toBeGreaterThan(40);
  });

  it('accepts every well-formed heartbeat of the common shape, whatever its other fields hold', () => {
    // Keys JSON.stringify writes without an escape (an escaped key might spell "resource": left to the full read).
    const otherKey = fc
      .string()
      .filter((key) => !['resource', 'instanceId', '__proto__'].includes(key) && JSON.stringify(key) === `"${key}"`);
    const message = fc.record({
      resource: fc.constantFrom('Thing', 'Rule', 'Gadget', 'x', `A${'b_9'.repeat(21)}`),
      instanceId: fc.nat({ max: 999_999 }).map(String),
      others: fc.dictionary(otherKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }),
      indent: fc.constantFrom(undefined, 2, '\t'),
    });

    fc.assert(
      fc.property(message, ({ resource, instanceId, others, indent }) => {
        const text = JSON.stringify({ ...others, resource, instanceId }, null, indent);

        const key = scanHeartbeat(Buffer.from(text), Buffer.byteLength(text), KINDS);

        if (KINDS.includes(resource)) expect(instanceOfKey(key, KINDS)).toEqual({ resource, instanceId });
        else expect(key).toBe(OTHER_KIND);
      }),
      { numRuns: 1000 },
    );
  });

  it("takes the reference worker's heartbeat and the golden MSK values on the quick path", () => {
    const worker = encodeHeartbeat({
      resource: 'Thing',
      instanceId: '12',
      podName: 'iota-dac-12',
      at: NOW,
      pid: 4242,
      resources: 4999,
      reloadTimes: 7,
    });
    const golden = readMskRecords(MskEventSchema.parse(fixture('msk-heartbeat-batch.json')), 10).valid.map((record) =>
      Buffer.from(record.value!, 'base64'),
    );

    expect(instanceOfKey(scanHeartbeat(Buffer.from(worker), Buffer.byteLength(worker), KINDS), KINDS)).toEqual({
      resource: 'Thing',
      instanceId: '12',
    });
    for (const bytes of golden) expect(scanHeartbeat(bytes, bytes.length, KINDS)).toBeGreaterThanOrEqual(0);
  });

  it.each([
    ['a repeated resource', '{"resource":"Thing","instanceId":"0","resource":"Rule"}'],
    ['an escaped key', '{"\\u0072esource":"Thing","instanceId":"0"}'],
    ['an escaped resource', '{"resource":"Th\\u0069ng","instanceId":"0"}'],
    ['a number as instanceId', '{"resource":"Thing","instanceId":0}'],
    ['a __proto__ key', '{"resource":"Thing","instanceId":"0","__proto__":{}}'],
    ['arrays nested very deep', `{"resource":"Thing","instanceId":"0","a":${'['.repeat(40)}${']'.repeat(40)}}`],
    ['objects nested very deep', `{"resource":"Thing","instanceId":"0","a":${'{"b":'.repeat(40)}1${'}'.repeat(40)}}`],
  ])('leaves %s to the full read', (_label, text) => {
    expect(scanHeartbeat(Buffer.from(text), Buffer.byteLength(text), KINDS)).toBe(UNSURE);
  });
});

/* ------------------------------------------------------------- batches */

/** What the schema alone makes of a JSON text: the verdict a batch must agree with. */
const bySchema = (text: string) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  const result = HeartbeatMessageSchema.safeParse(parsed);
  return result.success
    ? { ok: true, resource: result.data.resource, instanceId: result.data.instanceId, extra: boundedExtra(result.data) }
    : { ok: false };
};

describe('readHeartbeatBatch agrees with the schema on every shape', () => {
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, i]));
  const kinds = ['Thing', 'thing_2', 'T'.repeat(64)];
  it.each([
    '{"resource":"Thing","instanceId":"3","ip":"10.0.0.7","things":12}',
    '{"instanceId":"3","resource":"Thing"}',
    ' {\n  "resource" : "Thing",\t"instanceId": "999999" }\r\n',
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
    '{"resource":"Th\\u0069ng","instanceId":"0"}',
    '{"\\u0072esource":"Thing","instanceId":"0"}',
    `{"resource":"${'T'.repeat(64)}","instanceId":"0"}`,
    `{"resource":"${'T'.repeat(65)}","instanceId":"0"}`,
    '{"resource":7,"instanceId":"0"}',
    '{"resource":"Thing","instanceId":"0","resource":"Bad name"}',
    '{"resource":"Bad name","instanceId":"0","resource":"Thing"}',
    '{"resource":"Thing","instanceId":"0","instanceId":"1"}',
    '{"resource":"Thing","instanceId":"0","__proto__":null,"a":1}',
    '{"resource":"Thing","instanceId":"0","__proto__":{"resource":"x"},"a":1}',
    '{"resource":"Thing","instanceId":"0","constructor":1,"hasOwnProperty":"x","2":true,"1":null}',
    '{"resource":"Thing","instanceId":"0","nested":{"a":[1,{"b":"\\"}"}]},"list":[],"ok":true,"e":-1.5e-3}',
    JSON.stringify({ resource: 'Thing', instanceId: '9', ...many }),
    '{"resource":"Thing","instanceId":"0","ünï":"cödé ✓"}',
    '{"resource":"Thing","instanceId":"0",}',
    '{"resource":"Thing","instanceId":"0"} x',
    '{"resource":"Thing","instanceId":"0","a":01}',
    '{"resource":"Thing","instanceId":"0","a":1.}',
    '{"resource":"Thing","instanceId":"0","a":-}',
    '{"resource":"Thing","instanceId":"0","a":1e}',
    '{"resource":"Thing","instanceId":"0","a":.5}',
    '{"resource":"Thing","instanceId":"0","a":+1}',
    '{"resource":"Thing","instanceId":"0","a":-0.0e+0}',
    '{"resource":"Thing","instanceId":"0","a":"\t"}',
    '{"resource":"Thing","instanceId":"0","a":"\\u123G"}',
    '{"resource":"Thing","instanceId":"0","a":"\\x"}',
    '{"resource":"Thing","instanceId":"0","a":"\\u00e9\\n\\/"}',
    '{}',
    '[]',
    '[{"resource":"Thing","instanceId":"0"}]',
    'null',
    '"Thing"',
    '42',
  ])('%s', (text) => {
    const expected = bySchema(text);
    const malformed = expected.ok ? 0 : 1;

    for (const encoding of ['json', 'base64'] as const) {
      const value = encoding === 'json' ? text : b64(text);
      const batch = read([{ value, timestamp: NOW - 1 }], { encoding, kinds });

      expect(batch.malformed).toBe(malformed);
      if (expected.ok) {
        const { resource, instanceId, extra } = expected;
        expect(batch.beats).toEqual([
          Object.keys(extra!).length > 0
            ? { resource, instanceId, at: NOW - 1, extra }
            : { resource, instanceId, at: NOW - 1 },
        ]);
        const beatExtra = batch.beats[0]!.extra ?? {};
        expect(Object.keys(beatExtra)).toEqual(Object.keys(extra!));
        expect(Object.getPrototypeOf(beatExtra)).toBe(Object.getPrototypeOf(extra));
      } else expect(batch.beats).toEqual([]);
    }
  });

  it('reads a value nested deeper than the quick scan goes', () => {
    const deep = `{"resource":"Thing","instanceId":"3","a":${'{"b":['.repeat(1000)}1${']}'.repeat(1000)},"n":1}`;

    expect(read([{ value: b64(deep) }]).beats).toEqual([
      { resource: 'Thing', instanceId: '3', at: NOW, extra: { n: 1 } },
    ]);
  });

  it('reads JSON text too long for the quick scan', () => {
    const text = JSON.stringify({ resource: 'Thing', instanceId: '4', note: 'n'.repeat(200), pad: 'p'.repeat(6000) });

    expect(read([{ value: text }], { encoding: 'json' }).beats).toEqual([
      { resource: 'Thing', instanceId: '4', at: NOW, extra: { note: 'n'.repeat(200) } },
    ]);
  });

  it('decodes a value of exactly the cap, and a short value after it reads only its own bytes', () => {
    const head = '{"resource":"Thing","instanceId":"1","pad":"';
    const full = `${head}${'x'.repeat(MAX_HEARTBEAT_BYTES - head.length - 2)}"}`;
    expect(Buffer.byteLength(full)).toBe(MAX_HEARTBEAT_BYTES);

    const batch = read([{ value: b64(full) }, { value: b64({ resource: 'Rule', instanceId: '2' }) }]);

    expect(batch.beats.map(({ resource, instanceId }) => [resource, instanceId])).toEqual([
      ['Thing', '1'],
      ['Rule', '2'],
    ]);
  });

  it.each([
    ['URL-safe alphabet', Buffer.from('{"resource":"Thing","instanceId":"1","k":"??>>"}').toString('base64url')],
    ['no padding', b64({ resource: 'Thing', instanceId: '1', a: 'x' }).replace(/=+$/, '')],
    ['line breaks', b64({ resource: 'Thing', instanceId: '1', note: 'a long enough note' }).replace(/(.{8})/g, '$1\n')],
    [
      'invalid UTF-8',
      Buffer.concat([
        Buffer.from('{"resource":"Thing","instanceId":"1","n":"'),
        Buffer.from([0xff, 0xfe, 0xe2, 0x82]),
        Buffer.from('"}'),
      ]).toString('base64'),
    ],
  ])('reads base64 with %s as Buffer.from does', (_label, value) => {
    const text = Buffer.from(value, 'base64').toString('utf8');

    expect(read([{ value }])).toEqual(read([{ value: text }], { encoding: 'json' }));
    expect(read([{ value }]).beats).toHaveLength(1);
  });
});

describe('readHeartbeatBatch', () => {
  const beat = (instanceId: string | number, fields: Record<string, unknown> = {}, resource = 'Thing') =>
    b64({ resource, instanceId, ...fields });

  it('keeps the newest beat per instance, whatever the order, with its own extra fields only', () => {
    const batch = read([
      { value: beat('0', { n: 2 }), timestamp: NOW - 1000 },
      { value: beat('0', { n: 1, old: true }), timestamp: NOW - 5000 },
      { value: beat('1'), timestamp: NOW - 3000 },
      { value: beat('0', {}, 'Rule'), timestamp: NOW - 2000 },
    ]);

    expect(batch).toEqual({
      beats: [
        { resource: 'Thing', instanceId: '0', at: NOW - 1000, extra: { n: 2 } },
        { resource: 'Thing', instanceId: '1', at: NOW - 3000 },
        { resource: 'Rule', instanceId: '0', at: NOW - 2000 },
      ],
      malformed: 0,
      ignored: 0,
      logged: [],
    });
  });

  it('lets the later record win a tie', () => {
    const batch = read([
      { value: beat('0', { n: 1 }), timestamp: NOW },
      { value: beat('0', { n: 2 }), timestamp: NOW },
    ]);

    expect(batch.beats).toEqual([{ resource: 'Thing', instanceId: '0', at: NOW, extra: { n: 2 } }]);
  });

  it('coalesces a beat the full read took (integer id) with the same instance read quickly', () => {
    const batch = read([
      { value: beat(7, { n: 1 }), timestamp: NOW - 2000 },
      { value: beat('7', { n: 2 }), timestamp: NOW - 1000 },
      { value: beat('8', { n: 3 }), timestamp: NOW - 1000 },
      { value: beat(8, { n: 4 }), timestamp: NOW - 500 },
    ]);

    expect(batch.beats).toEqual([
      { resource: 'Thing', instanceId: '7', at: NOW - 1000, extra: { n: 2 } },
      { resource: 'Thing', instanceId: '8', at: NOW - 500, extra: { n: 4 } },
    ]);
  });

  it('counts a future timestamp as now, and a missing, zero or negative one as the receive time', () => {
    const batch = read([
      { value: beat('0'), timestamp: NOW + 3_600_000 },
      { value: beat('1') },
      { value: beat('2'), timestamp: 0 },
      { value: beat('3'), timestamp: -1 },
    ]);

    expect(batch.beats.map((b) => b.at)).toEqual([NOW, NOW, NOW, NOW]);
  });

  it('counts beats of other kinds as ignored and bad records as malformed, describing the first few', () => {
    const records = [
      { value: beat('0', {}, 'Gadget'), topic: 'HeartBeat', partition: 1, offset: 1 },
      { value: b64('not json'), topic: 'HeartBeat', partition: 1, offset: 2 },
      { value: null, topic: 'HeartBeat', partition: 1, offset: 3 },
      { value: beat('x'), offset: 4 },
      { value: b64(`{"pad":"${'p'.repeat(2 * LOGGED_VALUE_CHARS)}"}`), topic: 'HeartBeat', partition: 1, offset: 5 },
      { value: beat('5'), topic: 'HeartBeat', partition: 1, offset: 6 },
    ];

    const batch = read(records, { logLimit: 3 });

    expect(batch).toMatchObject({ malformed: 4, ignored: 1, beats: [{ resource: 'Thing', instanceId: '5' }] });
    expect(batch.logged).toEqual([
      {
        record: 'HeartBeat-1@2',
        field: 'value',
        reason: 'value is not JSON after base64 decoding',
        payload: 'not json',
      },
      { record: 'HeartBeat-1@3', field: 'value', reason: 'record has no value', payload: '' },
      {
        record: '?-?@4',
        field: 'instanceId',
        reason: expect.stringContaining('instanceId'),
        payload: expect.any(String),
      },
    ]);
    expect(read(records, { logLimit: 5 }).logged[3]!.payload).toMatch(/^\{"pad":"p+…\(\d+ chars\)$/);
  });

  it('reduces the golden MSK batch to one beat per instance, the newest for instance 0', () => {
    const { valid } = readMskRecords(MskEventSchema.parse(fixture('msk-heartbeat-batch.json')), 10);

    const { beats } = read(valid);

    expect(beats.map((b) => [b.instanceId, b.at, b.extra?.things])).toEqual([
      ['0', 1715674927000, 413],
      ['2', 1715674901000, 388],
      ['1', 1715674899000, 405],
    ]);
  });
});

describe('readMskRecords agrees with MskRecordSchema on every shape', () => {
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

    const { valid, invalid, logged } = readMskRecords(
      { eventSource: 'aws:kafka', records: { 'HeartBeat-0': [raw] } },
      10,
    );

    expect(invalid).toBe(zod.success ? 0 : 1);
    expect(logged).toHaveLength(invalid);
    if (zod.success) {
      const { value, timestamp, topic, partition, offset } = zod.data;
      expect(valid).toHaveLength(1);
      const record = valid[0]!;
      expect([record.value, record.timestamp, record.topic, record.partition, record.offset]).toEqual([
        value,
        timestamp,
        topic,
        partition,
        offset,
      ]);
    } else expect(valid).toEqual([]);
  });
});

describe('handleMskEvent', () => {
  /** An App whose store takes the beats it is given: enough for the handler, which only reads and coalesces. */
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

  it('reads every Kafka record of the event: bad records counted, times bounded by now, one beat per instance', async () => {
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
    const lambda = capturing();

    const result = await handleMskEvent(lambda.app, event, undefined, { now: () => NOW });

    expect(result).toEqual({ records: 10, malformed: 3, ignored: 1, writes: 5, instances: 5 });
    expect(lambda.stored).toEqual([
      [
        { resource: 'Thing', instanceId: '1', at: NOW - 5000, extra: { n: '1' } },
        { resource: 'Thing', instanceId: '2', at: NOW, extra: { n: '2' } },
        { resource: 'Thing', instanceId: '3', at: NOW, extra: { n: '3' } },
        { resource: 'Thing', instanceId: '4', at: NOW, extra: { n: '4' } },
        { resource: 'Thing', instanceId: '5', at: NOW, extra: { n: '5' } },
      ],
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
