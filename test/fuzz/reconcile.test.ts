/**
 * Fuzzing the reconcile function (functions/reconcile.ts) with EventBridge
 * triggers: a malformed one is dropped naming its field and changes nothing;
 * a well-formed one runs, and the only throw is the documented one (no kind
 * could be reconciled), which a local instance runtime on an empty store
 * never gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/reconcile.js';
import { trigger } from './arbitraries.js';
import { captureMetrics, fuzzParameters, fuzzTimeout, unchangedStore, useWarmContainer } from './support.js';

// Local worker processes: with no instance assigned, a run has none to start.
const unchanged = unchangedStore(useWarmContainer('reconcile', { ORCH_RUNTIME: 'processes' }));
captureMetrics();

describe('reconcile function under fuzzed triggers', () => {
  it('drops every malformed trigger naming its field, changing nothing, and runs every well-formed one', {
    timeout: fuzzTimeout(5),
  }, async () => {
    await fc.assert(
      fc.asyncProperty(trigger, async ({ event, malformedField }) => {
        const expectUnchanged = await unchanged.start(malformedField !== undefined);

        const response = await handler(event, { awsRequestId: 'fuzz' });

        if (malformedField !== undefined) {
          expect(response).toEqual({ status: 'dropped', reason: expect.stringMatching(/: /) });
          expect((response as { reason: string }).reason.startsWith(`${malformedField}: `)).toBe(true);
          await expectUnchanged();
        } else {
          expect(response).toMatchObject({ status: 'done', trigger: expect.stringContaining(' ') });
        }
      }),
      fuzzParameters(),
    );
  });
});
