/**
 * Reading a HeartBeat batch, pure: Kafka records in; the newest beat of each
 * instance, the counts and the first bad records (with why) out. The handler
 * (heartbeat.ts) only logs, stores and counts what this returns.
 *
 * Cost: a batch is thousands of records from a few hundred instances, nearly
 * all of one well-formed shape, and only the newest beat of each instance is
 * stored. So each value is first decoded into one reused buffer and read by a
 * quick scan of its bytes (heartbeat-scan.ts), which checks the whole JSON
 * grammar, finds `resource` and `instanceId` and builds no string and no
 * object. Whatever it accepts, the full read (JSON.parse, then
 * HeartbeatMessageSchema) accepts too, with the same resource and instance;
 * whatever it is unsure of — another shape, and every bad record — goes to
 * the full read, whose zod verdict names the field at fault. Beats are
 * coalesced per instance as they are scanned, and only the newest value of
 * each instance is parsed, for its extra fields.
 */
import * as z from '../zod.js';
import { INSTANCE_ID } from '../domain/orchestration.js';
import type { HeartbeatInput } from '../orchestration/types.js';
import { describeIssues, fieldIssues, type MskEvent, MskRecordSchema } from './events.js';
import { INSTANCE_SPAN, OTHER_KIND, scanHeartbeat, UNSURE } from './heartbeat-scan.js';

/** How a record value is encoded: base64 as in MSK events, or the JSON text itself (a Kafka client, `npm start`). */
export type HeartbeatEncoding = 'base64' | 'json';

/** Decoded values larger than this are not parsed: a heartbeat is a few hundred bytes. */
export const MAX_HEARTBEAT_BYTES = 16 * 1024;
/** Bounds of the extra fields kept with a beat (the rest are dropped, not rejected). */
export const EXTRA_LIMITS = { fields: 16, keyLength: 64, stringLength: 256 } as const;
/** A malformed record is logged with its value (or the record) cut to this many characters. */
export const LOGGED_VALUE_CHARS = 512;

const RESOURCE_KIND = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export const HeartbeatMessageSchema = z.looseObject({
  resource: z
    .string({ error: 'resource is required' })
    .check(z.regex(RESOURCE_KIND, 'resource must be a kind name such as "Thing"')),
  instanceId: z.pipe(
    z.pipe(
      z.union([z.string(), z.int().check(z.minimum(0))], { error: 'instanceId must be a string or an integer' }),
      z.transform(String),
    ),
    z.string().check(z.regex(INSTANCE_ID, 'instanceId must be a small non-negative integer such as "0"')),
  ),
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

/* ----------------------------------------------------------- full read */

/**
 * Every value is decoded (base64) or encoded (JSON text) into this one buffer
 * (no allocation per record). Values over MAX_HEARTBEAT_BYTES are refused
 * before, and decoding never yields more bytes than
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

/** A message accepted as a heartbeat, its instanceId as text. */
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

/** One record value → the message, or why not: the verdict every quick answer must agree with. */
function readMessage(value: unknown, encoding: HeartbeatEncoding): HeartbeatMessage | Malformed {
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
export function decodeHeartbeat(value: unknown, encoding: HeartbeatEncoding = 'base64'): DecodedHeartbeat {
  const message = readMessage(value, encoding);
  if (message instanceof Malformed) return { ok: false, reason: message.reason, field: message.field };
  return { ok: true, resource: message.resource, instanceId: message.instanceId, extra: boundedExtra(message) };
}

const truncated = (text: string): string =>
  text.length > LOGGED_VALUE_CHARS ? `${text.slice(0, LOGGED_VALUE_CHARS)}…(${text.length} chars)` : text;

/** One record value → its instance key, OTHER_KIND or UNSURE, as scanHeartbeat. */
function quickInstanceKey(value: unknown, encoding: HeartbeatEncoding, kinds: readonly string[]): number {
  if (typeof value !== 'string') return UNSURE;
  if (encoding === 'base64') {
    if (Buffer.byteLength(value, 'base64') > MAX_HEARTBEAT_BYTES) return UNSURE;
    return scanHeartbeat(scratch, scratch.write(value, 0, 'base64'), kinds);
  }
  // Longer JSON text is left to the full read, which measures it.
  if (value.length * 3 > MAX_HEARTBEAT_BYTES) return UNSURE;
  return scanHeartbeat(scratch, scratch.write(value, 0, 'utf8'), kinds);
}

/** Whose beat an instance key (from scanHeartbeat or the full read) stands for. */
export function instanceOfKey(key: number, kinds: readonly string[]): { resource: string; instanceId: string } {
  return { resource: kinds[Math.floor(key / INSTANCE_SPAN)]!, instanceId: String(key % INSTANCE_SPAN) };
}

/** The instance key of a message the full read accepted. */
function instanceKey(message: HeartbeatMessage, kinds: readonly string[]): number {
  const kind = kinds.indexOf(message.resource);
  return kind < 0 ? OTHER_KIND : kind * INSTANCE_SPAN + Number(message.instanceId);
}

/* -------------------------------------------------------------- batch */

/** What the batch reader needs of a record: the handler's input, or a Kafka record of an MSK event as it is. */
export interface HeartbeatRecordLike {
  /** Absent or null (a tombstone) is a malformed record. */
  readonly value?: string | null | undefined;
  /** Epoch ms the record was produced; absent, zero or negative is the receive time. */
  readonly timestamp?: number | undefined;
  readonly topic?: string | undefined;
  readonly partition?: number | undefined;
  readonly offset?: number | undefined;
}

/** A bad record as logged: where it is, the field at fault, why, and a truncated copy of what it holds. */
export interface MalformedRecord {
  readonly record: string;
  readonly field: string;
  readonly reason: string;
  readonly payload: string;
}

export interface HeartbeatBatchReading {
  /** The newest beat of each instance of a kind asked for, in the order instances were first seen. */
  readonly beats: HeartbeatInput[];
  readonly malformed: number;
  /** Well-formed beats of other kinds. */
  readonly ignored: number;
  /** The first malformed records, at most `logLimit`. */
  readonly logged: MalformedRecord[];
}

export interface HeartbeatReadOptions {
  /** The resource kinds whose beats are kept. */
  readonly kinds: readonly string[];
  /** Receive time, epoch ms. */
  readonly now: number;
  readonly encoding: HeartbeatEncoding;
  /** How many malformed records to describe. */
  readonly logLimit: number;
}

const position = (record: { topic?: unknown; partition?: unknown; offset?: unknown }): string =>
  `${String(record.topic ?? '?')}-${String(record.partition ?? '?')}@${String(record.offset ?? '?')}`;

/**
 * When a beat counts as sent: its record time, never in the future (a worker
 * with a fast clock must not keep itself alive past its silence); the receive
 * time without one.
 */
const beatTime = (timestamp: number | undefined, now: number): number =>
  timestamp !== undefined && Number.isFinite(timestamp) && timestamp > 0 ? Math.min(timestamp, now) : now;

/** The newest beat of one instance so far; `message` is kept when the full read made it. */
interface NewestBeat {
  at: number;
  value: string;
  message: HeartbeatMessage | undefined;
}

/** The message of a value the quick scan accepted: the full read agrees (a property test holds the scan to it). */
function acceptedMessage(value: string, encoding: HeartbeatEncoding): Record<string, unknown> {
  const message = readMessage(value, encoding);
  return message instanceof Malformed ? {} : message;
}

/**
 * A batch → the newest beat per (resource, instanceId), later records winning
 * ties, with the extra fields of that beat; malformed records counted (and the
 * first few described), beats of other kinds counted.
 */
export function readHeartbeatBatch(
  records: ReadonlyArray<HeartbeatRecordLike>,
  { kinds, now, encoding, logLimit }: HeartbeatReadOptions,
): HeartbeatBatchReading {
  const newest = new Map<number, NewestBeat>();
  const logged: MalformedRecord[] = [];
  let malformed = 0;
  let ignored = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const { value } = record;
    let key = quickInstanceKey(value, encoding, kinds);
    let message: HeartbeatMessage | undefined;
    if (key === UNSURE) {
      const read = readMessage(value, encoding);
      if (read instanceof Malformed) {
        if (malformed++ < logLimit)
          logged.push({
            record: position(record),
            field: read.field,
            reason: read.reason,
            payload: truncated(read.text),
          });
        continue;
      }
      message = read;
      key = instanceKey(read, kinds);
    }
    if (key === OTHER_KIND) {
      ignored++;
      continue;
    }
    const at = beatTime(record.timestamp, now);
    const seen = newest.get(key);
    // The value is a string here: the quick scan and the full read accept nothing else.
    if (!seen) newest.set(key, { at, value: value as string, message });
    else if (at >= seen.at) {
      seen.at = at;
      seen.value = value as string;
      seen.message = message;
    }
  }
  const beats: HeartbeatInput[] = [];
  for (const [key, { at, value, message }] of newest) {
    const { resource, instanceId } = instanceOfKey(key, kinds);
    const extra = boundedExtra(message ?? acceptedMessage(value, encoding));
    beats.push(Object.keys(extra).length > 0 ? { resource, instanceId, at, extra } : { resource, instanceId, at });
  }
  return { beats, malformed, ignored, logged };
}

/* ---------------------------------------------------------- MSK records */

export type MskRecord = z.infer<typeof MskRecordSchema>;

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

const textOf = (raw: unknown): string => {
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
};

/**
 * An MSK (or self-managed Kafka) event's records: those of the right shape as
 * they are (no copy), for readHeartbeatBatch; the others counted, the first
 * `logLimit` described.
 */
export function readMskRecords(
  event: MskEvent,
  logLimit: number,
): { valid: MskRecord[]; invalid: number; logged: MalformedRecord[] } {
  const valid: MskRecord[] = [];
  const logged: MalformedRecord[] = [];
  let invalid = 0;
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
      if (invalid++ >= logLimit) continue;
      const loose = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
      const issues = fieldIssues(result.error);
      logged.push({
        record: position({ topic: loose.topic ?? topicPartition, partition: loose.partition, offset: loose.offset }),
        field: issues[0]?.path ?? '',
        reason: describeIssues(issues),
        payload: truncated(textOf(raw)),
      });
    }
  }
  return { valid, invalid, logged };
}
