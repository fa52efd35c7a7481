/**
 * HeartBeat (Kafka topic, via the MSK event source): decode every record,
 * keep the newest beat per (resource, instanceId), and store them with at most
 * one write per instance per batch.
 *
 * Failure policy: a record we cannot decode is counted and logged with its
 * topic-partition-offset, the offending field and a truncated copy of its
 * value, and skipped; it never fails the batch, because a failed batch is
 * retried from the same offset and one poison record would block its
 * partition for good. Only a store failure (unavailable, or a race that
 * outlived its retries) is thrown, so the batch is retried once the store is
 * back.
 *
 * Cost: a batch is thousands of records from a few hundred instances, nearly
 * all of the same valid shape. Each value is decoded once into one reused
 * buffer and parsed once; a record of the common shape (an object whose
 * `resource` and `instanceId` are strings of the right form) is accepted by a
 * plain check that accepts nothing the zod schemas reject, and everything else
 * goes through zod, which says precisely what is wrong. Beats are coalesced
 * per instance as they are read, so only the newest beat of each instance has
 * its extra fields copied.
 */
import * as z from 'zod';
import type { App } from '../app.js';
import { findKind } from '../config/kinds.js';
import { INSTANCE_ID } from '../domain/orchestration.js';
import { Metrics } from '../metrics.js';
import type { HeartbeatInput } from '../orchestration/types.js';
import { describeIssues, fieldIssues, MskEventSchema, MskRecordSchema } from './events.js';

/** One record to decode. Its `value` is base64 (MSK) or the JSON text itself (a Kafka client): see `HeartbeatBatchOptions.encoding`. */
export interface HeartbeatRecordInput {
  readonly value: string;
  /** Epoch ms the record was produced (Kafka CREATE_TIME); the receive time when absent. */
  readonly timestamp?: number | undefined;
  readonly topic?: string | undefined;
  readonly partition?: number | undefined;
  readonly offset?: number | undefined;
}

export interface HeartbeatBatchOptions {
  /** How `value` is encoded: 'base64' as in MSK events (the default), or 'json' for the text itself. */
  readonly encoding?: 'base64' | 'json';
  /** Receive time for records without a timestamp; default the App's clock. */
  readonly now?: () => number;
}

export interface HeartbeatBatchResult {
  /** Records in the batch, malformed ones included. */
  readonly records: number;
  readonly malformed: number;
  /** Well-formed beats for a resource kind that is not configured. */
  readonly ignored: number;
  /** Store writes made (≤ instances). */
  readonly writes: number;
  /** Distinct (resource, instanceId) pairs in the batch. */
  readonly instances: number;
}

/** Decoded values larger than this are not parsed: a heartbeat is a few hundred bytes. */
export const MAX_HEARTBEAT_BYTES = 16 * 1024;
/** Bounds of the extra fields kept with a beat (the rest are dropped, not rejected). */
export const EXTRA_LIMITS = { fields: 16, keyLength: 64, stringLength: 256 } as const;
/** A malformed record is logged with its value (or the record) cut to this many characters. */
export const LOGGED_VALUE_CHARS = 512;

export const HEARTBEAT_METRICS = {
  records: 'HeartbeatRecords',
  malformed: 'HeartbeatMalformed',
  ignored: 'HeartbeatIgnored',
  writes: 'HeartbeatWrites',
  instances: 'HeartbeatInstances',
  malformedBatches: 'HeartbeatMalformedBatches',
} as const;

/** The logs name at most this many malformed records per batch, then a total. */
const MALFORMED_LOG_LIMIT = 10;

const RESOURCE_KIND = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export const HeartbeatMessageSchema = z.looseObject({
  resource: z
    .string({ error: 'resource is required' })
    .regex(RESOURCE_KIND, 'resource must be a kind name such as "Thing"'),
  instanceId: z
    .union([z.string(), z.number().int().nonnegative()], { error: 'instanceId must be a string or an integer' })
    .transform(String)
    .pipe(z.string().regex(INSTANCE_ID, 'instanceId must be a small non-negative integer such as "0"')),
});

export type DecodedHeartbeat =
  | {
      readonly ok: true;
      readonly resource: string;
      readonly instanceId: string;
      readonly extra: Record<string, unknown>;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      /** The offending field: "value" when the value itself cannot be read, "" for the whole message. */
      readonly field: string;
    };

/** The scalar fields besides resource/instanceId, within EXTRA_LIMITS. */
export function boundedExtra(message: Record<string, unknown>): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  let kept = 0;
  for (const [key, value] of Object.entries(message)) {
    if (kept >= EXTRA_LIMITS.fields) break;
    if (key === 'resource' || key === 'instanceId' || key.length > EXTRA_LIMITS.keyLength) continue;
    const keep =
      value === null ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value)) ||
      (typeof value === 'string' && value.length <= EXTRA_LIMITS.stringLength);
    if (!keep) continue;
    extra[key] = value;
    kept++;
  }
  return extra;
}

/* ------------------------------------------------------------ decoding */

/**
 * Every base64 value is decoded into this one buffer and read out as text at
 * once (no allocation per record). Values over MAX_HEARTBEAT_BYTES are refused
 * before decoding, and decoding never yields more bytes than
 * `Buffer.byteLength(value, 'base64')`, so the buffer always holds a value.
 */
const scratch = Buffer.allocUnsafe(MAX_HEARTBEAT_BYTES);
const fromBase64 = (value: string): string => scratch.toString('utf8', 0, scratch.write(value, 0, 'base64'));

/** Base64 characters that decode to at most LOGGED_VALUE_CHARS bytes. */
const LOGGED_BASE64_CHARS = Math.floor(LOGGED_VALUE_CHARS / 3) * 4;

/** Why a record value is not a heartbeat: the field at fault, the reason, the value as text as far as it was read. */
class Malformed {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly text: string,
  ) {}
}

/** A message accepted as a heartbeat; its extra fields are copied only if it is the newest of its instance. */
type HeartbeatMessage = Record<string, unknown> & { readonly resource: string; readonly instanceId: string };

/**
 * The common shape, checked without zod: an object whose `resource` and
 * `instanceId` are strings of the right form. Whatever passes is accepted by
 * HeartbeatMessageSchema with the same data (zod would copy the object and
 * drop an own `__proto__` key, so a message with one goes to zod); whatever
 * fails goes to the schema for its verdict and its message.
 */
function isCommonHeartbeat(value: unknown): value is HeartbeatMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { resource, instanceId } = value as Record<string, unknown>;
  return (
    typeof resource === 'string' &&
    typeof instanceId === 'string' &&
    RESOURCE_KIND.test(resource) &&
    INSTANCE_ID.test(instanceId) &&
    !Object.hasOwn(value, '__proto__')
  );
}

/**
 * One record value → the message (its instanceId as text), or why not. A
 * valid record costs its text and its parse, nothing more.
 */
function parseHeartbeat(value: unknown, encoding: 'base64' | 'json'): HeartbeatMessage | Malformed {
  if (typeof value !== 'string' || value.length === 0) return new Malformed('value', 'record has no value', '');
  const base64 = encoding === 'base64';
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most JSON text needs no byte count.
  const size = base64
    ? Buffer.byteLength(value, 'base64')
    : value.length * 3 <= MAX_HEARTBEAT_BYTES
      ? value.length
      : Buffer.byteLength(value, 'utf8');
  if (size > MAX_HEARTBEAT_BYTES)
    return new Malformed(
      'value',
      `value is ${size} bytes, more than ${MAX_HEARTBEAT_BYTES}`,
      base64 ? `${fromBase64(value.slice(0, LOGGED_BASE64_CHARS))}…` : value,
    );
  const text = base64 ? fromBase64(value) : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return new Malformed('value', `value is not JSON${base64 ? ' after base64 decoding' : ''}`, text);
  }
  if (isCommonHeartbeat(parsed)) return parsed;
  const result = HeartbeatMessageSchema.safeParse(parsed);
  if (result.success) return result.data;
  const issues = fieldIssues(result.error);
  return new Malformed(issues[0]?.path ?? '', describeIssues(issues), text);
}

/** One record value → a heartbeat, or why not. */
export function decodeHeartbeat(value: unknown, encoding: 'base64' | 'json' = 'base64'): DecodedHeartbeat {
  const message = parseHeartbeat(value, encoding);
  if (message instanceof Malformed) return { ok: false, reason: message.reason, field: message.field };
  return { ok: true, resource: message.resource, instanceId: message.instanceId, extra: boundedExtra(message) };
}

const truncated = (text: string): string =>
  text.length > LOGGED_VALUE_CHARS ? `${text.slice(0, LOGGED_VALUE_CHARS)}…(${text.length} chars)` : text;

/* ---------------------------------------------------------- coalescing */

/** When a beat counts as sent: its record time, never in the future; the receive time without one. */
const beatTime = (timestamp: number | undefined, now: number): number =>
  timestamp !== undefined && Number.isFinite(timestamp) && timestamp > 0 ? Math.min(timestamp, now) : now;

/** The newest beat per (resource, instanceId) as a batch is read; on equal times the later one wins. */
class NewestPerInstance<T> {
  private readonly newest = new Map<string, { resource: string; instanceId: string; at: number; data: T }>();

  add(resource: string, instanceId: string, at: number, data: T): void {
    const key = `${resource}/${instanceId}`;
    const seen = this.newest.get(key);
    if (!seen) this.newest.set(key, { resource, instanceId, at, data });
    else if (at >= seen.at) {
      seen.at = at;
      seen.data = data;
    }
  }

  /** One beat per instance, in the order instances were first seen. */
  beats(extraOf: (data: T) => Record<string, unknown>): HeartbeatInput[] {
    const beats: HeartbeatInput[] = [];
    for (const { resource, instanceId, at, data } of this.newest.values()) {
      const extra = extraOf(data);
      beats.push(Object.keys(extra).length > 0 ? { resource, instanceId, at, extra } : { resource, instanceId, at });
    }
    return beats;
  }
}

/**
 * The newest beat per (resource, instanceId); on equal times the later record
 * wins. A timestamp in the future counts as now: a worker with a fast clock
 * must not keep itself alive past its silence.
 */
export function coalesceHeartbeats(
  beats: ReadonlyArray<{
    resource: string;
    instanceId: string;
    extra: Record<string, unknown>;
    timestamp?: number | undefined;
  }>,
  now: number,
): HeartbeatInput[] {
  const newest = new NewestPerInstance<Record<string, unknown>>();
  for (const beat of beats) newest.add(beat.resource, beat.instanceId, beatTime(beat.timestamp, now), beat.extra);
  return newest.beats((extra) => extra);
}

const position = (record: { topic?: unknown; partition?: unknown; offset?: unknown }): string =>
  `${String(record.topic ?? '?')}-${String(record.partition ?? '?')}@${String(record.offset ?? '?')}`;

/** What the batch reader needs of a record: a HeartbeatRecordInput, or a Kafka record of the MSK event as it is. */
interface RecordLike {
  readonly value?: string | null | undefined;
  readonly timestamp?: number | undefined;
  readonly topic?: string | undefined;
  readonly partition?: number | undefined;
  readonly offset?: number | undefined;
}

/** Decodes, coalesces and stores a batch of heartbeat records. */
export function handleHeartbeatRecords(
  app: App,
  records: ReadonlyArray<HeartbeatRecordInput>,
  metrics: Metrics = new Metrics(),
  options: HeartbeatBatchOptions = {},
): Promise<HeartbeatBatchResult> {
  return readAndStore(app, records, metrics, options);
}

async function readAndStore(
  app: App,
  records: ReadonlyArray<RecordLike>,
  metrics: Metrics,
  options: HeartbeatBatchOptions,
): Promise<HeartbeatBatchResult> {
  const log = app.logger.child({ handler: 'heartbeat' });
  const now = (options.now ?? app.clock)();
  const encoding = options.encoding ?? 'base64';
  const configured = new Map<string, boolean>();
  const newest = new NewestPerInstance<Record<string, unknown>>();
  let malformed = 0;
  let ignored = 0;
  for (const record of records) {
    const message = parseHeartbeat(record.value, encoding);
    if (message instanceof Malformed) {
      malformed++;
      if (malformed <= MALFORMED_LOG_LIMIT)
        log.warn(
          { record: position(record), field: message.field, reason: message.reason, payload: truncated(message.text) },
          'malformed heartbeat record skipped',
        );
      continue;
    }
    const { resource, instanceId } = message;
    let known = configured.get(resource);
    if (known === undefined) configured.set(resource, (known = findKind(app.kinds, resource) !== undefined));
    if (!known) {
      ignored++;
      continue;
    }
    newest.add(resource, instanceId, beatTime(record.timestamp, now), message);
  }
  if (malformed > MALFORMED_LOG_LIMIT)
    log.warn({ malformed, logged: MALFORMED_LOG_LIMIT }, 'more malformed heartbeat records skipped');
  if (ignored > 0) log.debug({ ignored }, 'heartbeats for unconfigured kinds ignored');

  const beats = newest.beats(boundedExtra);
  const stored = beats.length > 0 ? await app.orchestrator.recordHeartbeats(beats) : { writes: 0, instances: 0 };

  metrics.count(HEARTBEAT_METRICS.records, records.length);
  metrics.count(HEARTBEAT_METRICS.malformed, malformed);
  metrics.count(HEARTBEAT_METRICS.ignored, ignored);
  metrics.count(HEARTBEAT_METRICS.writes, stored.writes);
  metrics.count(HEARTBEAT_METRICS.instances, beats.length);
  return { records: records.length, malformed, ignored, writes: stored.writes, instances: beats.length };
}

/* ----------------------------------------------------------- MSK event */

type MskRecord = z.infer<typeof MskRecordSchema>;

const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isOptionalString = (value: unknown): boolean => value === undefined || typeof value === 'string';
const isOptionalNullableString = (value: unknown): boolean => value === null || isOptionalString(value);

/** Kafka headers as MSK sends them: `[{name: [byte, …]}, …]`. */
function isPlainHeaders(headers: unknown): boolean {
  if (headers === undefined) return true;
  if (!Array.isArray(headers)) return false;
  for (let i = 0; i < headers.length; i++) {
    const header: unknown = headers[i];
    if (typeof header !== 'object' || header === null || Object.getPrototypeOf(header) !== Object.prototype)
      return false;
    if (Object.getOwnPropertySymbols(header).length > 0) return false;
    for (const bytes of Object.values(header)) {
      if (!Array.isArray(bytes)) return false;
      for (let j = 0; j < bytes.length; j++) if (!Number.isSafeInteger(bytes[j])) return false;
    }
  }
  return true;
}

/**
 * A Kafka record of the usual shape, checked without zod. Whatever passes,
 * MskRecordSchema accepts, with the same values in the fields read here;
 * whatever fails goes to the schema for its verdict and its message.
 */
function isPlainMskRecord(raw: unknown): raw is MskRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  const record = raw as Record<string, unknown>;
  const { timestamp } = record;
  return (
    typeof record.topic === 'string' &&
    isCount(record.partition) &&
    isCount(record.offset) &&
    (timestamp === undefined || (typeof timestamp === 'number' && Number.isFinite(timestamp))) &&
    isOptionalString(record.timestampType) &&
    isOptionalNullableString(record.key) &&
    isOptionalNullableString(record.value) &&
    isPlainHeaders(record.headers)
  );
}

interface InvalidKafkaRecord {
  readonly position: string;
  readonly field: string;
  readonly reason: string;
  readonly raw: unknown;
}

/** The event's Kafka records: those of the right shape as they are (no copy), the others with why not. */
function splitMskRecords(event: z.infer<typeof MskEventSchema>): { valid: MskRecord[]; invalid: InvalidKafkaRecord[] } {
  const valid: MskRecord[] = [];
  const invalid: InvalidKafkaRecord[] = [];
  for (const [topicPartition, batch] of Object.entries(event.records)) {
    for (const raw of batch) {
      if (isPlainMskRecord(raw)) {
        valid.push(raw);
        continue;
      }
      const result = MskRecordSchema.safeParse(raw);
      if (result.success) {
        valid.push(result.data);
        continue;
      }
      const loose = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
      const issues = fieldIssues(result.error);
      invalid.push({
        position: position({ topic: loose.topic ?? topicPartition, partition: loose.partition, offset: loose.offset }),
        field: issues[0]?.path ?? '',
        reason: describeIssues(issues),
        raw,
      });
    }
  }
  return { valid, invalid };
}

/** A Kafka record → what the handler reads: no value is an empty one, a negative time is no time. */
const heartbeatRecord = ({ value, timestamp, topic, partition, offset }: MskRecord): HeartbeatRecordInput => ({
  value: value ?? '',
  timestamp: timestamp !== undefined && timestamp >= 0 ? timestamp : undefined,
  topic,
  partition,
  offset,
});

/**
 * An MSK (or self-managed Kafka) event → heartbeat records. Records of the
 * wrong shape are returned apart, with the reason, so the caller counts them.
 */
export function mskHeartbeatRecords(event: z.infer<typeof MskEventSchema>): {
  records: HeartbeatRecordInput[];
  invalid: Array<{ position: string; reason: string }>;
} {
  const { valid, invalid } = splitMskRecords(event);
  return {
    records: valid.map(heartbeatRecord),
    invalid: invalid.map(({ position, reason }) => ({ position, reason })),
  };
}

const textOf = (raw: unknown): string => {
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
};

/** The `heartbeat` Lambda's work: never throws for bad input, only for a store failure. */
export async function handleMskEvent(
  app: App,
  event: unknown,
  metrics: Metrics = new Metrics(),
  options: Omit<HeartbeatBatchOptions, 'encoding'> = {},
): Promise<HeartbeatBatchResult> {
  const log = app.logger.child({ handler: 'heartbeat' });
  const envelope = MskEventSchema.safeParse(event);
  if (!envelope.success) {
    metrics.count(HEARTBEAT_METRICS.malformedBatches);
    log.error({ reason: describeIssues(fieldIssues(envelope.error)) }, 'event is not an MSK batch; nothing recorded');
    return { records: 0, malformed: 0, ignored: 0, writes: 0, instances: 0 };
  }
  const { valid, invalid } = splitMskRecords(envelope.data);
  for (const record of invalid.slice(0, MALFORMED_LOG_LIMIT))
    log.warn(
      { record: record.position, field: record.field, reason: record.reason, payload: truncated(textOf(record.raw)) },
      'malformed Kafka record skipped',
    );
  metrics.count(HEARTBEAT_METRICS.malformed, invalid.length);
  metrics.count(HEARTBEAT_METRICS.records, invalid.length);
  // The records are read as they are: the reader treats a missing value and a negative time as heartbeatRecord does.
  const result = await readAndStore(app, valid, metrics, { ...options, encoding: 'base64' });
  return { ...result, records: result.records + invalid.length, malformed: result.malformed + invalid.length };
}
