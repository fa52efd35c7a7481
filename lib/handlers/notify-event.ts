/**
 * The notify function's event, in its two shapes. An SQS batch (the event
 * source mapping with ReportBatchItemFailures): the records of a kind whose
 * store work failed are returned as batch item failures, so SQS redelivers
 * exactly those. One message invoked directly (the shape of the events/
 * samples and of the former IoT → Lambda action): a batch of one, whose
 * failure throws, so Lambda's async retries apply.
 */
import type { App } from '../app.js';
import type { Metrics } from '../metrics.js';
import { SqsEventSchema } from './events.js';
import { handleNotifyBatch, type NotifyBatchResult } from './notify-batch.js';

export interface SqsBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

export class NotifyNotAppliedError extends Error {
  override readonly name = 'NotifyNotAppliedError';
  constructor(readonly result: NotifyBatchResult) {
    super(`cm/notify not applied: ${result.kinds.flatMap((kind) => kind.error ?? []).join('; ')}`);
  }
}

export async function handleNotifyEvent(
  app: App,
  event: unknown,
  metrics: Metrics,
): Promise<SqsBatchResponse | NotifyBatchResult> {
  const sqs = SqsEventSchema.safeParse(event);
  if (sqs.success) {
    const records = sqs.data.Records.map((record) => ({ id: record.messageId, payload: record.body }));
    const result = await handleNotifyBatch(app, records, metrics);
    return { batchItemFailures: result.failed.map((itemIdentifier) => ({ itemIdentifier })) };
  }
  const result = await handleNotifyBatch(app, [{ id: 'direct', payload: event }], metrics);
  if (result.failed.length > 0) throw new NotifyNotAppliedError(result);
  return result;
}
