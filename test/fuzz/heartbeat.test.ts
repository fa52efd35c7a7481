/**
 * Fuzzing the heartbeat function (functions/heartbeat.ts) with MSK events.
 * Values are built from raw JSON fragments (escaped keys, duplicate keys,
 * numbers written in every way JSON allows, stray bytes, oversized padding),
 * and what each must come to is decided here from the documented rule — the
 * value as JSON.parse reads it, then the message schema — never by the
 * handler's own reader. Nothing throws while the store is up; a malformed
 * record is skipped and counted and a batch of poison changes nothing; every
 * instance's stored beat ends at the newest of what it had and what the
 * batch brought, never older.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/heartbeat.js';
import { INSTANCE_ID } from '../../lib/domain/orchestration.js';
import { anyCodePoint, anyJson } from './arbitraries.js';
import {
  captureMetrics,
  fuzzParameters,
  fuzzTimeout,
  KINDS,
  LAYOUT,
  unchangedStore,
  useWarmContainer,
} from './support.js';

const store = useWarmContainer('heartbeat');
const unchanged = unchangedStore(store);
captureMetrics();

/** Decoded values above this many bytes are malformed (a heartbeat is a few hundred). */
const MAX_VALUE_BYTES = 16 * 1024;
const RESOURCE_KIND = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/* -------------------------------------------------------------- values */

/** `resource` and `instanceId` as JSON text: mostly right (plainly or escaped), else of the wrong type or form. */
const resourceText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('"Thing"', '"Rule"', '"Th\\u0069ng"', '"Rul\\u0065"', '"Device"') },
  { weight: 1, arbitrary: fc.constantFrom('""', '"thing/0"', '"1Thing"', `"${'a'.repeat(65)}"`, '5', 'null') },
);
const instanceIdText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .integer({ min: 0, max: 5 })
      .chain((id) => fc.constantFrom(`"${id}"`, `${id}`, `${id}.0`, `${id}e0`, `"\\u003${id}"`)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '"999999"',
      '-0',
      '"-1"',
      '-1',
      '"01"',
      '1.5',
      '"1000000"',
      '1e6',
      '"x"',
      'true',
      'null',
      '[0]',
      '{}',
    ),
  },
);
const keyText = (name: string) =>
  fc.constantFrom(
    JSON.stringify(name),
    JSON.stringify(name).replace(/^"(.)/, (_, first: string) => `"\\u00${first.charCodeAt(0).toString(16)}`),
  );
const extraFragment = fc
  .tuple(fc.string({ maxLength: 8, unit: anyCodePoint }), anyJson)
  .map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);

/** One time in six, a value of `arbitrary`; else nothing. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

/**
 * A value as text: fragments in any order (duplicates included: JSON.parse
 * keeps the last), whitespace around them, and sometimes a flaw that no JSON
 * reader may accept or a byte that is not UTF-8.
 */
const valueText = fc
  .record({
    fragments: fc
      .tuple(
        fc.option(fc.tuple(keyText('resource'), resourceText), { freq: 10, nil: undefined }),
        fc.option(fc.tuple(keyText('instanceId'), instanceIdText), { freq: 10, nil: undefined }),
        rarely(fc.tuple(fc.constantFrom('resource', 'instanceId'), fc.oneof(resourceText, instanceIdText))),
        fc.array(extraFragment, { maxLength: 3 }),
      )
      .chain(([resource, instanceId, decoy, extras]) => {
        const fragments = [
          ...(resource ? [`${resource[0]}:${resource[1]}`] : []),
          ...(instanceId ? [`${instanceId[0]}:${instanceId[1]}`] : []),
          ...(decoy ? [`${JSON.stringify(decoy[0])}:${decoy[1]}`] : []),
          ...extras,
        ];
        return fc.shuffledSubarray(fragments, { minLength: fragments.length });
      }),
    spacing: fc.constantFrom('', ' ', '\n\t '),
    flaw: rarely(fc.constantFrom('trailing', 'bom', 'truncated', 'array', 'pad')),
  })
  .map(({ fragments, spacing, flaw }) => {
    const body = `{${spacing}${fragments.join(`${spacing},${spacing}`)}${spacing}}`;
    switch (flaw) {
      case 'trailing':
        return `${body},`;
      case 'bom':
        return `\uFEFF${body}`;
      case 'truncated':
        return body.slice(0, -1);
      case 'array':
        return `[${body}]`;
      case 'pad':
        return `${body.slice(0, -1)}${fragments.length > 0 ? ',' : ''}"pad":"${'p'.repeat(MAX_VALUE_BYTES)}"}`;
      default:
        return body;
    }
  });

/** The value as MSK delivers it (base64), sometimes with a byte changed or as bytes of no kind at all. */
const value = fc.oneof(
  { weight: 12, arbitrary: valueText.map((text) => Buffer.from(text, 'utf8').toString('base64')) },
  {
    weight: 1,
    arbitrary: fc.tuple(valueText, fc.nat(), fc.integer({ min: 0x80, max: 0xff })).map(([text, at, byte]) => {
      const bytes = Buffer.from(text, 'utf8');
      if (bytes.length > 0) bytes[at % bytes.length] = byte;
      return bytes.toString('base64');
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('base64')) },
  { weight: 1, arbitrary: fc.constantFrom('', 'not base64 at all!', '====') },
);

/** What the documented rule makes of a value: malformed, or the instance it is a beat of. */
function verdict(
  base64: unknown,
): { resource: string; instanceId: string; message: Record<string, unknown> } | undefined {
  if (typeof base64 !== 'string' || base64 === '' || Buffer.byteLength(base64, 'base64') > MAX_VALUE_BYTES) return;
  let message: unknown;
  try {
    message = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
  } catch {
    return;
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return;
  const { resource, instanceId } = message as Record<string, unknown>;
  if (typeof resource !== 'string' || !RESOURCE_KIND.test(resource)) return;
  const id =
    typeof instanceId === 'string'
      ? instanceId
      : typeof instanceId === 'number' && Number.isSafeInteger(instanceId) && instanceId >= 0
        ? String(instanceId)
        : undefined;
  if (id === undefined || !INSTANCE_ID.test(id)) return;
  return { resource, instanceId: id, message: message as Record<string, unknown> };
}

/* ------------------------------------------------------------- records */

/**
 * How long before the run a record was produced (ms), or a record time that
 * counts as received now: none, zero, negative, or an hour in the future.
 */
type ProducedAgo = number | 'none' | 'zero' | 'negative' | 'future';
const producedAgo = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1000, max: 3_600_000 }) },
  { weight: 1, arbitrary: fc.constantFrom<ProducedAgo>('none', 'zero', 'negative', 'future') },
);

function timestampOf(ago: ProducedAgo, start: number): number | undefined {
  switch (ago) {
    case 'none':
      return undefined;
    case 'zero':
      return 0;
    case 'negative':
      return -5;
    case 'future':
      return start + 3_600_000;
    default:
      return start - ago;
  }
}

/** A field of a Kafka record set to a value of the wrong type or range. */
const recordFlaw = fc.constantFrom<[string, unknown]>(
  ['topic', 5],
  ['topic', null],
  ['partition', -1],
  ['partition', '0'],
  ['partition', 1.5],
  ['offset', -1],
  ['offset', 2 ** 60],
  ['timestamp', '1715675000000'],
  ['timestamp', null],
  ['key', 5],
  ['value', 5],
  ['value', { resource: 'Thing', instanceId: '0' }],
  ['headers', 'content-type'],
  ['headers', [5]],
  ['headers', [{ 'content-type': [1.5] }]],
  ['headers', [{ 'content-type': 'json' }]],
);

interface GeneratedRecord {
  /** The record as MSK delivers it, or something that is not a Kafka record. */
  readonly raw: unknown;
  /** Well-formed as a Kafka record (its value may still be malformed). */
  readonly wellFormed: boolean;
  readonly value: unknown;
  readonly producedAgo: ProducedAgo;
}

const record = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .record({
        partition: fc.integer({ min: 0, max: 3 }),
        offset: fc.nat(),
        value: fc.oneof({ weight: 9, arbitrary: value }, { weight: 1, arbitrary: fc.constantFrom(null, undefined) }),
        producedAgo,
        flaw: rarely(recordFlaw),
      })
      .map(({ partition, offset, value, producedAgo, flaw }): GeneratedRecord => {
        const raw: Record<string, unknown> = {
          topic: 'HeartBeat',
          partition,
          offset,
          timestampType: 'CREATE_TIME',
          key: null,
          headers: [{ 'content-type': [...Buffer.from('application/json')] }],
        };
        if (value !== undefined) raw.value = value;
        if (flaw) raw[flaw[0]] = flaw[1];
        return { raw, wellFormed: !flaw, value: raw.value, producedAgo };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom<unknown>(null, 5, 'HeartBeat', []),
        anyJson.filter((json) => typeof json !== 'object'),
      )
      .map((raw): GeneratedRecord => ({ raw, wellFormed: false, value: undefined, producedAgo: 'none' })),
  },
);

/** The records with their times, counted from the run's start. */
function withTimes(records: readonly GeneratedRecord[], start: number): unknown[] {
  return records.map(({ raw, wellFormed, producedAgo }) => {
    if (!wellFormed || typeof raw !== 'object' || raw === null) return raw;
    const timestamp = timestampOf(producedAgo, start);
    return timestamp === undefined ? raw : { ...raw, timestamp };
  });
}

/** The records in two partitions, in order: the first half, then the rest (a later record wins a tie). */
const mskEvent = (records: readonly unknown[]) => {
  const byPartition: Record<string, unknown[]> = {};
  const half = Math.ceil(records.length / 2);
  for (const [i, raw] of records.entries()) (byPartition[`HeartBeat-${i < half ? 0 : 1}`] ??= []).push(raw);
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/iota-msk/7f3c2b1a-3',
    bootstrapServers: 'b-1.iotamsk.example:9098',
    records: byPartition,
  };
};

/* ------------------------------------------------------------- judging */

interface StoredBeat {
  readonly at: number;
  readonly extra?: Record<string, unknown>;
}

async function storedBeat(resource: string, instanceId: string): Promise<StoredBeat | undefined> {
  const node = await store().get(LAYOUT.heartbeat(resource, instanceId));
  return node ? (JSON.parse(node.data) as StoredBeat) : undefined;
}

/** The newest beat the batch brings per instance: a time, or "received now"; on a tie the later record wins. */
interface Expected {
  readonly malformed: number;
  readonly ignored: number;
  readonly newest: Map<
    string,
    { resource: string; instanceId: string; at: number | 'now'; message: Record<string, unknown> }
  >;
}

function expectedOf(records: readonly GeneratedRecord[], start: number): Expected {
  const newest: Expected['newest'] = new Map();
  let malformed = 0;
  let ignored = 0;
  for (const { wellFormed, value, producedAgo } of records) {
    const beat = wellFormed ? verdict(value) : undefined;
    if (!beat) {
      malformed++;
      continue;
    }
    if (!KINDS.includes(beat.resource)) {
      ignored++;
      continue;
    }
    const at = typeof producedAgo === 'number' ? start - producedAgo : 'now';
    const key = `${beat.resource}/${beat.instanceId}`;
    const seen = newest.get(key);
    if (!seen || at === 'now' || (seen.at !== 'now' && at >= seen.at)) newest.set(key, { ...beat, at });
  }
  return { malformed, ignored, newest };
}

describe('heartbeat function under fuzzed MSK events', () => {
  it('stores the newest beat per instance, skips and counts malformed records, and changes nothing for poison', {
    timeout: fuzzTimeout(10),
  }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 12 }), async (records) => {
        const start = Date.now();
        const expected = expectedOf(records, start);
        const poisonOnly = expected.newest.size === 0;
        const expectUnchanged = await unchanged.start(poisonOnly);
        const before = new Map(
          await Promise.all(
            [...expected.newest].map(
              async ([key, beat]) => [key, await storedBeat(beat.resource, beat.instanceId)] as const,
            ),
          ),
        );

        const result = await handler(mskEvent(withTimes(records, start)));
        const end = Date.now();

        expect(result).toMatchObject({
          records: records.length,
          malformed: expected.malformed,
          ignored: expected.ignored,
          instances: expected.newest.size,
        });
        expect(result.writes).toBeLessThanOrEqual(expected.newest.size);
        if (poisonOnly) await expectUnchanged();
        for (const [key, beat] of expected.newest) {
          const was = before.get(key)?.at ?? 0;
          const stored = await storedBeat(beat.resource, beat.instanceId);
          if (beat.at === 'now') {
            expect(stored?.at, key).toBeGreaterThanOrEqual(Math.max(was, start));
            expect(stored?.at, key).toBeLessThanOrEqual(Math.max(was, end));
          } else expect(stored?.at, key).toBe(Math.max(was, beat.at));
          // The extra fields kept are the newest beat's own, when that beat was written, as JSON keeps them
          // (a -0 reads back as 0).
          if (stored && stored.at !== was)
            for (const [field, kept] of Object.entries(stored.extra ?? {}))
              expect(kept).toEqual(JSON.parse(JSON.stringify(beat.message[field])));
        }
      }),
      fuzzParameters(),
    );
  });

  it('records nothing for an event that is not an MSK batch', { timeout: fuzzTimeout(3) }, async () => {
    const notABatch = fc.oneof(
      anyJson,
      fc.constant(undefined),
      fc.record({
        eventSource: fc.constantFrom<unknown>('aws:sqs', 'aws:kafka ', 'SelfManagedkafka', undefined, 5),
        records: fc.constantFrom<unknown>({}, undefined),
      }),
      fc.record({
        eventSource: fc.constant('aws:kafka'),
        records: fc.constantFrom<unknown>([], 'x', { 'HeartBeat-0': 'x' }, null),
      }),
    );
    await fc.assert(
      fc.asyncProperty(notABatch, async (event) => {
        const expectUnchanged = await unchanged.start(true);

        const result = await handler(event);

        expect(result).toEqual({ records: 0, malformed: 0, ignored: 0, writes: 0, instances: 0 });
        await expectUnchanged();
      }),
      fuzzParameters(),
    );
  });
});
