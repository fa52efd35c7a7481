/**
 * HeartBeat (Kafka topic, via the MSK event source): read every record, keep
 * the newest beat per (resource, instanceId), and store them with at most one
 * write per instance per batch. The reading is heartbeat-decode.ts; this
 * module logs, stores and counts.
 *
 * Failure policy: a record we cannot decode is counted and logged with its
 * topic-partition-offset, the offending field and a truncated copy of its
 * value, and skipped; it never fails the batch, because a failed batch is
 * retried from the same offset and one poison record would block its
 * partition for good. Only a store failure (unavailable, or a race that
 * outlived its retries) is thrown, so the batch is retried once the store is
 * back.
 */
import type { App } from '../app.js';
import { Metrics } from '../metrics.js';
import { describeIssues, fieldIssues, MskEventSchema } from './events.js';
import {
  type HeartbeatEncoding,
  type HeartbeatRecordLike,
  readHeartbeatBatch,
  readMskRecords,
} from './heartbeat-decode.js';

// The local runtime reads single beats with it, beside handleHeartbeatRecords.
export { decodeHeartbeat } from './heartbeat-decode.js';

/** One record to read. Its `value` is base64 (MSK) or the JSON text itself (a Kafka client): see `HeartbeatBatchOptions.encoding`. */
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
  readonly encoding?: HeartbeatEncoding;
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

/** Reads, coalesces and stores a batch of heartbeat records. */
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
  records: ReadonlyArray<HeartbeatRecordLike>,
  metrics: Metrics,
  options: HeartbeatBatchOptions,
): Promise<HeartbeatBatchResult> {
  const log = app.logger.child({ handler: 'heartbeat' });
  const { beats, malformed, ignored, logged } = readHeartbeatBatch(records, {
    kinds: app.kinds.map((kind) => kind.resource),
    now: (options.now ?? app.clock)(),
    encoding: options.encoding ?? 'base64',
    logLimit: MALFORMED_LOG_LIMIT,
  });
  for (const record of logged) log.warn(record, 'malformed heartbeat record skipped');
  if (malformed > MALFORMED_LOG_LIMIT)
    log.warn({ malformed, logged: MALFORMED_LOG_LIMIT }, 'more malformed heartbeat records skipped');
  if (ignored > 0) log.debug({ ignored }, 'heartbeats for unconfigured kinds ignored');

  const stored = beats.length > 0 ? await app.orchestrator.recordHeartbeats(beats) : { writes: 0, instances: 0 };

  metrics.count(HEARTBEAT_METRICS.records, records.length);
  metrics.count(HEARTBEAT_METRICS.malformed, malformed);
  metrics.count(HEARTBEAT_METRICS.ignored, ignored);
  metrics.count(HEARTBEAT_METRICS.writes, stored.writes);
  metrics.count(HEARTBEAT_METRICS.instances, beats.length);
  return { records: records.length, malformed, ignored, writes: stored.writes, instances: beats.length };
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
  const { valid, invalid, logged } = readMskRecords(envelope.data, MALFORMED_LOG_LIMIT);
  for (const record of logged) log.warn(record, 'malformed Kafka record skipped');
  metrics.count(HEARTBEAT_METRICS.malformed, invalid);
  metrics.count(HEARTBEAT_METRICS.records, invalid);
  const result = await readAndStore(app, valid, metrics, { ...options, encoding: 'base64' });
  return { ...result, records: result.records + invalid, malformed: result.malformed + invalid };
}
