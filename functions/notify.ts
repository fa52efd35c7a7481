/**
 * cm/notify through a queue: the IoT topic rule `SELECT * FROM 'cm/notify'`
 * sends each message to an SQS standard queue, and this function consumes it
 * in batches (event source mapping with ReportBatchItemFailures). A malformed
 * message is logged, counted and acknowledged; the records of a kind whose
 * store work failed are returned as batch item failures, so SQS redelivers
 * exactly those and, after 5 receives, moves them to the dead-letter queue.
 * A direct invocation with one message is a batch of one.
 */
import { withMetrics, withSharedApp } from '../lib/handlers/lambda.js';
import type { NotifyBatchResult } from '../lib/handlers/notify-batch.js';
import { handleNotifyEvent, type SqsBatchResponse } from '../lib/handlers/notify-event.js';

export async function handler(event: unknown): Promise<SqsBatchResponse | NotifyBatchResult> {
  return withMetrics('notify', (metrics) => withSharedApp((app) => handleNotifyEvent(app, event, metrics)));
}
