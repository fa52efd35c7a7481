/**
 * HeartBeat (Kafka topic, via the MSK event source): decode every record,
 * keep the newest beat per (resource, instanceId), and store them with at most
 * one write per instance per batch.
 *
 * Failure policy: a record we cannot decode is counted and logged with its
 * topic-partition-offset and skipped; it never fails the batch, because a
 * failed batch is retried from the same offset and one poison record would
 * block its partition for good. Only a store failure (unavailable, or a race
 * that outlived its retries) is thrown, so the batch is retried once the store
 * is back.
 */
import { z } from 'zod';
import type { App } from '../app.js';
import { findKind } from '../config/kinds.js';
import { INSTANCE_ID } from '../domain/orchestration.js';
import { Metrics } from '../metrics.js';
import { newestPerInstance } from '../orchestration/heartbeats.js';
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

export const HeartbeatMessageSchema = z.looseObject({
  resource: z
    .string({ error: 'resource is required' })
    .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'resource must be a kind name such as "Thing"'),
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
  | { readonly ok: false; readonly reason: string };

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

/** One record value → a heartbeat, or why not. */
export function decodeHeartbeat(value: unknown, encoding: 'base64' | 'json' = 'base64'): DecodedHeartbeat {
  if (typeof value !== 'string' || value.length === 0) return { ok: false, reason: 'record has no value' };
  const size = encoding === 'base64' ? Buffer.byteLength(value, 'base64') : Buffer.byteLength(value, 'utf8');
  if (size > MAX_HEARTBEAT_BYTES)
    return { ok: false, reason: `value is ${size} bytes, more than ${MAX_HEARTBEAT_BYTES}` };
  const text = encoding === 'base64' ? Buffer.from(value, 'base64').toString('utf8') : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: `value is not JSON${encoding === 'base64' ? ' after base64 decoding' : ''}` };
  }
  const result = HeartbeatMessageSchema.safeParse(parsed);
  if (!result.success) return { ok: false, reason: describeIssues(fieldIssues(result.error)) };
  return {
    ok: true,
    resource: result.data.resource,
    instanceId: result.data.instanceId,
    extra: boundedExtra(result.data),
  };
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
  return newestPerInstance(
    beats.map((beat) => ({
      resource: beat.resource,
      instanceId: beat.instanceId,
      at:
        beat.timestamp !== undefined && Number.isFinite(beat.timestamp) && beat.timestamp > 0
          ? Math.min(beat.timestamp, now)
          : now,
      ...(Object.keys(beat.extra).length > 0 ? { extra: beat.extra } : {}),
    })),
  );
}

const position = (record: { topic?: unknown; partition?: unknown; offset?: unknown }): string =>
  `${String(record.topic ?? '?')}-${String(record.partition ?? '?')}@${String(record.offset ?? '?')}`;

/** Decodes, coalesces and stores a batch of heartbeat records. */
export async function handleHeartbeatRecords(
  app: App,
  records: ReadonlyArray<HeartbeatRecordInput>,
  metrics: Metrics = new Metrics(),
  options: HeartbeatBatchOptions = {},
): Promise<HeartbeatBatchResult> {
  const log = app.logger.child({ handler: 'heartbeat' });
  const now = (options.now ?? app.clock)();
  const decoded: Array<{
    resource: string;
    instanceId: string;
    extra: Record<string, unknown>;
    timestamp?: number | undefined;
  }> = [];
  let malformed = 0;
  let ignored = 0;
  for (const record of records) {
    const beat = decodeHeartbeat(record.value, options.encoding ?? 'base64');
    if (!beat.ok) {
      malformed++;
      if (malformed <= MALFORMED_LOG_LIMIT)
        log.warn({ record: position(record), reason: beat.reason }, 'malformed heartbeat record skipped');
      continue;
    }
    if (!findKind(app.kinds, beat.resource)) {
      ignored++;
      continue;
    }
    decoded.push({ ...beat, timestamp: record.timestamp });
  }
  if (malformed > MALFORMED_LOG_LIMIT)
    log.warn({ malformed, logged: MALFORMED_LOG_LIMIT }, 'more malformed heartbeat records skipped');
  if (ignored > 0) log.debug({ ignored }, 'heartbeats for unconfigured kinds ignored');

  const beats = coalesceHeartbeats(decoded, now);
  const stored = beats.length > 0 ? await app.orchestrator.recordHeartbeats(beats) : { writes: 0, instances: 0 };

  metrics.count(HEARTBEAT_METRICS.records, records.length);
  metrics.count(HEARTBEAT_METRICS.malformed, malformed);
  metrics.count(HEARTBEAT_METRICS.ignored, ignored);
  metrics.count(HEARTBEAT_METRICS.writes, stored.writes);
  metrics.count(HEARTBEAT_METRICS.instances, beats.length);
  return { records: records.length, malformed, ignored, writes: stored.writes, instances: beats.length };
}

/**
 * An MSK (or self-managed Kafka) event → heartbeat records. Records of the
 * wrong shape are returned apart, with the reason, so the caller counts them.
 */
export function mskHeartbeatRecords(event: z.infer<typeof MskEventSchema>): {
  records: HeartbeatRecordInput[];
  invalid: Array<{ position: string; reason: string }>;
} {
  const records: HeartbeatRecordInput[] = [];
  const invalid: Array<{ position: string; reason: string }> = [];
  for (const [topicPartition, batch] of Object.entries(event.records)) {
    for (const raw of batch) {
      const result = MskRecordSchema.safeParse(raw);
      if (!result.success) {
        const loose = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
        invalid.push({
          position: position({
            topic: loose.topic ?? topicPartition,
            partition: loose.partition,
            offset: loose.offset,
          }),
          reason: describeIssues(fieldIssues(result.error)),
        });
        continue;
      }
      const { value, timestamp, topic, partition, offset } = result.data;
      records.push({
        value: value ?? '',
        timestamp: timestamp !== undefined && timestamp >= 0 ? timestamp : undefined,
        topic,
        partition,
        offset,
      });
    }
  }
  return { records, invalid };
}

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
  const { records, invalid } = mskHeartbeatRecords(envelope.data);
  for (const record of invalid.slice(0, MALFORMED_LOG_LIMIT))
    log.warn({ record: record.position, reason: record.reason }, 'malformed Kafka record skipped');
  metrics.count(HEARTBEAT_METRICS.malformed, invalid.length);
  metrics.count(HEARTBEAT_METRICS.records, invalid.length);
  const result = await handleHeartbeatRecords(app, records, metrics, { ...options, encoding: 'base64' });
  return { ...result, records: result.records + invalid.length, malformed: result.malformed + invalid.length };
}
