/**
 * The notify function's entry point as Lambda calls it (IS_LOCAL: a fresh App
 * per invocation, on an embedded store of its own): an SQS batch gets a
 * partial batch response, a direct invocation with one message is a batch of
 * one.
 */
import { describe, expect, it } from 'vitest';
import { handler } from '../../../functions/notify.js';
import { placedOn, useLocalLambdaEnv } from '../../support/lambda-env.js';
import { sampleEvent } from '../../unit/handlers/fixtures.js';

useLocalLambdaEnv('notify-fn');

const placed = (ids: readonly string[]) => placedOn('Thing', ids);

describe('notify function', () => {
  it('answers an SQS batch with no batch item failures: the messages applied in order, the malformed one dropped', async () => {
    const response = await handler(sampleEvent('notify-sqs-batch.json'));

    expect(response).toEqual({ batchItemFailures: [] });
    const [created, bulk, deletedAfter] = await placed([
      '6d1c2f0e-3b8a-4c57-9f2e-1a2b3c4d5e6f',
      'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51',
      'c0ffee00-1234-4abc-9def-00112233aabb',
    ]);
    expect(created).toBeDefined();
    expect(bulk).toBeDefined();
    expect(deletedAfter).toBeUndefined();
  });

  it('takes one message invoked directly (the events/ samples) as a batch of one', async () => {
    const response = await handler(sampleEvent('notify-create-thing.json'));

    expect(response).toMatchObject({ records: 1, failed: [], kinds: [{ resource: 'Thing', assigned: [{}] }] });
    expect(await placed(['6d1c2f0e-3b8a-4c57-9f2e-1a2b3c4d5e6f'])).toEqual([expect.any(String)]);
  });
});
