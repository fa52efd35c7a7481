/**
 * The messages of the cm/notify concurrency test, per worker: a
 * deterministic list of create/delete messages (single and bulk) for ids of
 * its own. notify-batch-load.ts delivers them in SQS batches.
 */
export const LOAD = {
  /** Single-row ids per worker; every DELETE_EVERY-th of them is deleted again. */
  singles: 400,
  deleteEvery: 4,
  /** Bulk creates per worker, each of bulkSize ids; the even-numbered ids of each are bulk-deleted. */
  bulks: 5,
  bulkSize: 20,
} as const;

type Message = Record<string, unknown>;

/**
 * The worker's messages as ordered chains: the messages of one chain travel
 * in order (a delete after its create).
 */
export function chainsFor(worker: number): Message[][] {
  const chains: Message[][] = [];
  for (let n = 0; n < LOAD.singles; n++) {
    const id = `w${worker}-s${n}`;
    const chain: Message[] = [{ o: 'c', t: 'Thing', k: { id }, instance: { id, name: `thing ${n}` } }];
    if (n % LOAD.deleteEvery === 0) chain.push({ o: 'd', t: 'Thing', k: { id } });
    chains.push(chain);
  }
  for (let b = 0; b < LOAD.bulks; b++) {
    const ids = Array.from({ length: LOAD.bulkSize }, (_, i) => `w${worker}-b${b}-${i}`);
    chains.push([
      { o: 'bc', t: 'Thing', keys: ids.map((id) => ({ id })) },
      { o: 'bd', t: 'Thing', where: { id: { in: ids.filter((_, i) => i % 2 === 0) } } },
    ]);
  }
  return chains;
}

/** The ids that must be live once every worker's messages were delivered (creates minus deletes). */
export function expectedLiveIds(workers: number): string[] {
  const live: string[] = [];
  for (let worker = 0; worker < workers; worker++) {
    for (let n = 0; n < LOAD.singles; n++) if (n % LOAD.deleteEvery !== 0) live.push(`w${worker}-s${n}`);
    for (let b = 0; b < LOAD.bulks; b++) for (let i = 1; i < LOAD.bulkSize; i += 2) live.push(`w${worker}-b${b}-${i}`);
  }
  return live.sort();
}

export const messageCount = (worker: number): number => chainsFor(worker).reduce((sum, chain) => sum + chain.length, 0);
