import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffSorted, firstAfter, removalBatches } from '../../../lib/domain/catalog-diff.js';

const sortedUnique = fc
  .uniqueArray(fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/), { maxLength: 40 })
  .map((ids) => [...ids].sort());

describe('diffSorted', () => {
  it('finds what only the catalog has and what only the assignment has', () => {
    expect(diffSorted(['a', 'b', 'd'], ['b', 'c', 'd', 'e'])).toEqual({ missing: ['a'], extra: ['c', 'e'] });
    expect(diffSorted([], ['x'])).toEqual({ missing: [], extra: ['x'] });
    expect(diffSorted(['x'], [])).toEqual({ missing: ['x'], extra: [] });
  });

  it('equals the set differences for any sorted inputs', () => {
    fc.assert(
      fc.property(sortedUnique, sortedUnique, (catalog, assigned) => {
        const { missing, extra } = diffSorted(catalog, assigned);
        expect(missing).toEqual(catalog.filter((id) => !assigned.includes(id)));
        expect(extra).toEqual(assigned.filter((id) => !catalog.includes(id)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('firstAfter', () => {
  it('is the index of the first id greater than the bound', () => {
    fc.assert(
      fc.property(
        sortedUnique,
        fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/), { nil: undefined }),
        (ids, after) => {
          const expected = after === undefined ? 0 : ids.filter((id) => id <= after).length;
          expect(firstAfter(ids, after)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('removalBatches', () => {
  it('keeps the ids of each list in one batch, fills batches up to the size, and puts ids on no list last', () => {
    const lists = [{ ids: ['a1', 'x', 'a2'] }, { ids: ['b1', 'b2', 'b3'] }, { ids: ['c1'] }];

    expect(removalBatches(['c1', 'b2', 'a2', 'a1', 'p', 'b3'], lists, 3)).toEqual([
      ['a1', 'a2'],
      ['b2', 'b3', 'c1'],
      ['p'],
    ]);
  });

  it('splits only a list with more ids than a batch holds', () => {
    const lists = [{ ids: ['a1', 'a2', 'a3', 'a4', 'a5'] }, { ids: ['b1'] }];

    expect(removalBatches(['a1', 'a2', 'a3', 'a4', 'a5', 'b1'], lists, 2)).toEqual([
      ['a1', 'a2'],
      ['a3', 'a4'],
      ['a5', 'b1'],
    ]);
  });

  it('batches every id once, none over the size, and touches each list in as few batches as it can', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,4}$/), { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 12 }),
        (all, listCount, size) => {
          const lists = Array.from({ length: listCount }, (_, n) => ({
            ids: all.filter((_, i) => i % (listCount + 1) === n),
          }));
          const ids = all.filter((_, i) => i % 3 !== 0);

          const batches = removalBatches(ids, lists, size);

          expect(batches.flat().sort()).toEqual([...ids].sort());
          for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(size);
          for (const list of lists) {
            const mine = list.ids.filter((id) => ids.includes(id));
            const touching = batches.filter((batch) => batch.some((id) => mine.includes(id))).length;
            expect(touching).toBe(Math.ceil(mine.length / size));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
