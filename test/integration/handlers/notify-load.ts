/**
 * One process's share of the cm/notify concurrency test: a deterministic list
 * of create/delete messages (single and bulk) for ids of its own, delivered
 * through handleNotifyMessage with several messages in flight, as concurrent
 * Lambda invocations would.
 *
 * Run: node --import tsx test/integration/handlers/notify-load.ts <worker>
 * with ZK_CONNECT, ZK_ROOT and ZK_STATE_ROOT set. Prints one JSON summary line.
 */
import { pathToFileURL } from 'node:url';

export const LOAD = {
  /** Single-row ids per worker; every DELETE_EVERY-th of them is deleted again. */
  singles: 400,
  deleteEvery: 4,
  /** Bulk creates per worker, each of bulkSize ids; the even-numbered ids of each are bulk-deleted. */
  bulks: 5,
  bulkSize: 20,
  /** Messages in flight per process. */
  concurrency: 8,
  /** Lambda retries a failed async invocation twice before the on-failure destination. */
  attempts: 3,
} as const;

type Message = Record<string, unknown>;

/**
 * The worker's messages as ordered chains: the messages of one chain are
 * delivered in order (a delete after its create), chains run concurrently.
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

export interface LoadSummary {
  worker: number;
  messages: number;
  statuses: Record<string, number>;
  /** Deliveries that threw and were retried, as Lambda would. */
  retries: number;
  /** Messages that failed every attempt (would land in the dead-letter queue). */
  deadLettered: number;
}

async function main(): Promise<void> {
  const worker = Number(process.argv[2]);
  if (!Number.isInteger(worker) || worker < 0) throw new Error('usage: notify-load.ts <worker index>');
  const { createApp } = await import('../../../lib/app.js');
  const { handleNotifyMessage } = await import('../../../lib/handlers/notify.js');
  const app = await createApp(process.env);
  const chains = chainsFor(worker);
  const summary: LoadSummary = { worker, messages: 0, statuses: {}, retries: 0, deadLettered: 0 };

  const deliver = async (message: Message): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await handleNotifyMessage(app, message);
        summary.statuses[outcome.status] = (summary.statuses[outcome.status] ?? 0) + 1;
        return;
      } catch (error) {
        if (attempt >= LOAD.attempts) {
          summary.deadLettered++;
          process.stderr.write(`dead-lettered ${JSON.stringify(message)}: ${(error as Error).message}\n`);
          return;
        }
        summary.retries++;
      }
    }
  };

  let next = 0;
  await Promise.all(
    Array.from({ length: LOAD.concurrency }, async () => {
      while (next < chains.length) {
        const chain = chains[next++]!;
        for (const message of chain) {
          await deliver(message);
          summary.messages++;
        }
      }
    }),
  );
  await app.close();
  process.stdout.write(JSON.stringify(summary) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
