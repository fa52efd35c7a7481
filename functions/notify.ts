/**
 * AWS IoT Core topic rule `SELECT * FROM 'cm/notify'` → this function; the
 * event is the message JSON itself. A malformed message returns (logged and
 * counted); a store outage throws, so Lambda's async retries and then the
 * on-failure destination (the dead-letter queue) keep the message.
 */
import { withSharedApp } from '../lib/handlers/lambda.js';
import { handleNotifyMessage, type NotifyOutcome } from '../lib/handlers/notify.js';
import { Metrics } from '../lib/metrics.js';

export async function handler(event: unknown): Promise<NotifyOutcome> {
  const metrics = new Metrics('IotaOrchestrator', { Function: 'notify' });
  try {
    return await withSharedApp((app) => handleNotifyMessage(app, event, metrics));
  } finally {
    metrics.flush();
  }
}
