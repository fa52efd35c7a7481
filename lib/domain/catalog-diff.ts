/**
 * The two differences between a kind's catalog and its assigned resources,
 * by a sorted merge: both sides ascending in the same order (JavaScript's
 * string order, the catalog's `COLLATE "C"`). Pure.
 */

/** `missing`: in the catalog, not assigned. `extra`: assigned, not in the catalog. */
export interface CatalogDiff {
  readonly missing: string[];
  readonly extra: string[];
}

/** Both inputs sorted ascending without duplicates. */
export function diffSorted(catalog: readonly string[], assigned: readonly string[]): CatalogDiff {
  const missing: string[] = [];
  const extra: string[] = [];
  let i = 0;
  let j = 0;
  while (i < catalog.length || j < assigned.length) {
    const c = catalog[i];
    const a = assigned[j];
    if (a === undefined || (c !== undefined && c < a)) {
      missing.push(c!);
      i += 1;
    } else if (c === undefined || a < c) {
      extra.push(a);
      j += 1;
    } else {
      i += 1;
      j += 1;
    }
  }
  return { missing, extra };
}

/** The index of the first id greater than `after` in a sorted list (undefined: 0). */
export function firstAfter(sorted: readonly string[], after: string | undefined): number {
  if (after === undefined) return 0;
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}
