/**
 * cm/notify through a queue: the IoT topic rule `SELECT * FROM 'cm/notify'`
 * sends each message to an SQS standard queue, and this function consumes it
 * in batches (event source mapping with ReportBatchItemFailures). A malformed
 * message is logged, counted and acknowledged; the records of a kind whose
 * store work failed are returned as batch item failures, so SQS redelivers
 * exactly those and, after 5 receives, moves them to the dead-letter queue.
 *
 * A direct invocation with one message (the shape of the events/ samples and
 * of the former IoT → Lambda action) is a batch of one; its failure throws,
 * so Lambda's async retries apply.
 */
import { SqsEventSchema } from '../lib/handlers/events.js';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { handleNotifyBatch, type NotifyBatchResult, type NotifyRecord } from '../lib/handlers/notify-batch.js';
import { Metrics } from '../lib/metrics.js';

export interface SqsBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

export class NotifyNotAppliedError extends Error {
  override readonly name = 'NotifyNotAppliedError';
  constructor(readonly result: NotifyBatchResult) {
    super(`cm/notify not applied: ${result.kinds.flatMap((kind) => kind.error ?? []).join('; ')}`);
  }
}

export async function handler(event: unknown): Promise<SqsBatchResponse | NotifyBatchResult> {
  const metrics = new Metrics('IotaOrchestrator', { Function: 'notify' });
  try {
    const sqs = SqsEventSchema.safeParse(event);
    if (sqs.success) {
      const records: NotifyRecord[] = sqs.data.Records.map((record) => ({
        id: record.messageId,
        payload: record.body,
      }));
      const result = await withSharedApp((app) => handleNotifyBatch(app, records, metrics));
      return { batchItemFailures: result.failed.map((itemIdentifier) => ({ itemIdentifier })) };
    }
    const result = await withSharedApp((app) => handleNotifyBatch(app, [{ id: 'direct', payload: event }], metrics));
    if (result.failed.length > 0) throw new NotifyNotAppliedError(result);
    return result;
  } finally {
    metrics.flush();
  }
}
