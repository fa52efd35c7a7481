/**
 * Fuzzing the catalog function (functions/catalog.ts) with EventBridge
 * triggers. Without CATALOG_URL the check is off, so what is fuzzed is what
 * its trigger parser sees: a malformed trigger is dropped naming its field, a
 * well-formed one answers that the check is off, nothing throws and nothing
 * is written.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/catalog.js';
import { trigger } from './arbitraries.js';
import { captureMetrics, fuzzParameters, fuzzTimeout, unchangedStore, useWarmContainer } from './support.js';

const unchanged = unchangedStore(useWarmContainer('catalog'));
captureMetrics();

describe('catalog function under fuzzed triggers', () => {
  it('drops every malformed trigger naming its field and says off for every well-formed one, writing nothing', {
    timeout: fuzzTimeout(3),
  }, async () => {
    await fc.assert(
      fc.asyncProperty(trigger, async ({ event, malformedField }) => {
        const expectUnchanged = await unchanged.start(true);

        const response = await handler(event, { awsRequestId: 'fuzz' });

        if (malformedField !== undefined) {
          expect(response).toEqual({ status: 'dropped', reason: expect.any(String) });
          expect((response as { reason: string }).reason.startsWith(`${malformedField}: `)).toBe(true);
        } else {
          expect(response).toEqual({ status: 'off', reason: expect.stringContaining('CATALOG_URL') });
        }
        await expectUnchanged();
      }),
      fuzzParameters(),
    );
  });
});
