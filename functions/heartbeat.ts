/**
 * Amazon MSK, topic `HeartBeat` → this function; the event is one batch of
 * records. Malformed records are counted and skipped (never blocking the
 * partition); only a store failure throws, and then the batch is retried.
 */
import { handleMskEvent, type HeartbeatBatchResult } from '../lib/handlers/heartbeat.js';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { Metrics } from '../lib/metrics.js';

export async function handler(event: unknown): Promise<HeartbeatBatchResult> {
  const metrics = new Metrics('IotaOrchestrator', { Function: 'heartbeat' });
  try {
    return await withSharedApp((app) => handleMskEvent(app, event, metrics));
  } finally {
    metrics.flush();
  }
}
