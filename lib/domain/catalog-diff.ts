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

/**
 * The ids to remove in batches of at most `size`, each owner's ids kept
 * together: a batch rewrites every list it touches whole, so ids of one list
 * spread over several batches rewrite it once per batch (5,000 extras spread
 * over 100 lists, cut into batches of 500 in id order, rewrote 1,000 lists;
 * grouped, 100). An owner with more than `size` ids fills batches of its own.
 * Ids no list holds (pending ones, or placed since the lists were read) go last.
 */
export function removalBatches(
  ids: readonly string[],
  lists: ReadonlyArray<{ readonly ids: readonly string[] }>,
  size: number,
): string[][] {
  const unowned = new Set(ids);
  const groups: string[][] = [];
  for (const list of lists) {
    const owned = list.ids.filter((id) => unowned.has(id));
    for (const id of owned) unowned.delete(id);
    if (owned.length > 0) groups.push(owned);
  }
  if (unowned.size > 0) groups.push([...unowned]);
  const batches: string[][] = [];
  let batch: string[] = [];
  for (const group of groups)
    for (let from = 0; from < group.length; from += size) {
      const part = group.slice(from, from + size);
      if (batch.length + part.length > size) {
        batches.push(batch);
        batch = [];
      }
      for (const id of part) batch.push(id);
    }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
