/**
 * Amazon MSK, topic `HeartBeat` → this function; the event is one batch of
 * records. Malformed records are counted and skipped (never blocking the
 * partition); only a store failure throws, and then the batch is retried.
 */
import { handleMskEvent, type HeartbeatBatchResult } from '../lib/handlers/heartbeat.js';
import { withMetrics, withSharedApp } from '../lib/handlers/lambda.js';

export async function handler(event: unknown): Promise<HeartbeatBatchResult> {
  return withMetrics('heartbeat', (metrics) => withSharedApp((app) => handleMskEvent(app, event, metrics)));
}
