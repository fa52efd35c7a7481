/**
 * One OS process's deliveries for the SQS batch concurrency test, as one
 * notify Lambda container would receive them: the messages of notify-load's
 * chains, whole chains per batch (a chain's create and delete travel
 * together), batches of up to 100 records in the exact event shape SQS
 * sends, through the function's entry point. A record reported in
 * `batchItemFailures` is redelivered, as SQS would, up to 5 receives.
 *
 * Run: node --import tsx test/integration/handlers/notify-batch-load.ts <worker> [<worker>…]
 * with ZK_CONNECT, ZK_ROOT and ZK_STATE_ROOT set: it delivers the batches of
 * every listed worker, so two processes listing the same worker receive the
 * same batches at the same time. Prints one JSON summary line.
 */
import { createHash, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { chainsFor } from './notify-load.js';

export const BATCH_SIZE = 100;
const MAX_RECEIVES = 5;
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:iota-orchestrator-dev-notify';

export interface BatchLoadSummary {
  readonly workers: readonly number[];
  batches: number;
  records: number;
  redelivered: number;
  deadLettered: number;
}

interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, unknown>;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

/** The worker's messages cut into batches of whole chains. */
export function batchesFor(worker: number): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  for (const chain of chainsFor(worker)) {
    if (batch.length + chain.length > BATCH_SIZE) {
      batches.push(batch);
      batch = [];
    }
    batch.push(...chain.map((message) => JSON.stringify(message)));
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

const sqsRecord = (body: string, receiveCount: number): SqsRecord => ({
  messageId: randomUUID(),
  receiptHandle: `AQEB${randomUUID().replaceAll('-', '')}`,
  body,
  attributes: {
    ApproximateReceiveCount: String(receiveCount),
    SentTimestamp: String(Date.now()),
    SenderId: 'AROAEXAMPLE:iot-rule',
    ApproximateFirstReceiveTimestamp: String(Date.now()),
  },
  messageAttributes: {},
  md5OfBody: createHash('md5').update(body).digest('hex'),
  eventSource: 'aws:sqs',
  eventSourceARN: QUEUE_ARN,
  awsRegion: 'eu-west-1',
});

async function main(): Promise<void> {
  const workers = process.argv.slice(2).map(Number);
  if (workers.length === 0 || workers.some((w) => !Number.isInteger(w) || w < 0))
    throw new Error('usage: notify-batch-load.ts <worker> [<worker>…]');
  const { handler } = await import('../../../functions/notify.js');
  const summary: BatchLoadSummary = { workers, batches: 0, records: 0, redelivered: 0, deadLettered: 0 };
  for (const worker of workers) {
    for (const bodies of batchesFor(worker)) {
      let waiting = bodies.map((body) => sqsRecord(body, 1));
      for (let receive = 1; waiting.length > 0; receive++) {
        const response = (await handler({ Records: waiting })) as {
          batchItemFailures: Array<{ itemIdentifier: string }>;
        };
        summary.batches++;
        summary.records += waiting.length;
        const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
        const again = waiting.filter((record) => failed.has(record.messageId));
        if (receive >= MAX_RECEIVES) {
          summary.deadLettered += again.length;
          break;
        }
        summary.redelivered += again.length;
        waiting = again.map((record) => ({
          ...record,
          attributes: { ...record.attributes, ApproximateReceiveCount: String(receive + 1) },
        }));
      }
    }
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  // The container's App keeps its ZooKeeper session open, as a warm Lambda does.
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
