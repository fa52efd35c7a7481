import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffSorted, firstAfter } from '../../../lib/domain/catalog-diff.js';

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
