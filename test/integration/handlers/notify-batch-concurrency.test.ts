/**
 * The notify function on SQS batches from several OS processes at once, on
 * one real ZooKeeper: four processes each receive two workers' batches (so
 * every batch is delivered twice, concurrently, as an SQS standard queue
 * may), then every batch is delivered again. The end state is the one a
 * single delivery gives: every live resource on exactly one instance,
 * counters equal to the lists, the index in step, nothing else.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Layout } from '../../../lib/orchestration/layout.js';
import { openStore } from '../../../lib/store/open.js';
import type { NodeStore } from '../../../lib/store/port.js';
import { uniqueRoot } from '../../support/paths.js';
import { REPO_ROOT } from '../../unit/handlers/fixtures.js';
import { placements, readLegacyLayout, seedKind } from './layout-snapshot.js';
import type { BatchLoadSummary } from './notify-batch-load.js';
import { expectedLiveIds, messageCount } from './notify-load.js';

const WORKERS = 4;
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'notify-batch-load.ts');
const root = uniqueRoot('notify-batch-concurrency');
const env = {
  ZK_CONNECT: inject('zkConnect'),
  ZK_ROOT: `${root}/orchestration`,
  ZK_STATE_ROOT: `${root}/orchestrator`,
};
const layout = new Layout(env.ZK_ROOT, env.ZK_STATE_ROOT);

function runConsumer(workers: readonly number[]): Promise<BatchLoadSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...workers.map(String)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`consumer ${workers} exited with ${code}: ${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as BatchLoadSummary);
    });
  });
}

/** Consumer c receives the batches of workers c and c+1: each batch twice, at the same time. */
const overlapping = () => Promise.all(Array.from({ length: WORKERS }, (_, c) => runConsumer([c, (c + 1) % WORKERS])));

let store: NodeStore;
beforeAll(async () => {
  store = await openStore(env);
  await seedKind(store, layout, 'Thing', 4, 300);
});
afterAll(async () => {
  await store?.close();
});

describe('notify on SQS batches from 4 processes, every batch delivered twice at once (ZooKeeper)', () => {
  const live = expectedLiveIds(WORKERS);
  let once: Map<string, string>;

  const expectConsistent = async (): Promise<Map<string, string>> => {
    const instances = await readLegacyLayout(store, env.ZK_ROOT, 'Thing');
    for (const instance of instances) {
      expect(instance.used, `instance ${instance.id}`).toBe(instance.ids.length);
      expect(instance.used, `instance ${instance.id}`).toBeLessThanOrEqual(instance.count);
    }
    const placed = placements(instances);
    expect([...placed.keys()].sort()).toEqual(live);
    const entries = await store.getMany(live.map((id) => layout.index('Thing', id)));
    expect(live.filter((id, i) => entries[i]?.data !== placed.get(id))).toEqual([]);
    expect((await store.children(layout.indexDir('Thing'))).sort()).toEqual(live);
    return placed;
  };

  it('places every live resource exactly once and nothing else', async () => {
    const summaries = await overlapping();

    const messages = Array.from({ length: WORKERS }, (_, w) => messageCount(w)).reduce((a, b) => a + b, 0);
    expect(messages).toBeGreaterThanOrEqual(2000);
    expect(summaries.reduce((sum, s) => sum + s.deadLettered, 0)).toBe(0);
    expect(summaries.reduce((sum, s) => sum + s.records - s.redelivered, 0)).toBe(2 * messages);
    once = await expectConsistent();
  });

  it('ends in the identical state when every batch is delivered again', async () => {
    const summaries = await Promise.all(Array.from({ length: WORKERS }, (_, c) => runConsumer([c])));

    expect(summaries.reduce((sum, s) => sum + s.deadLettered, 0)).toBe(0);
    expect(await expectConsistent()).toEqual(once);
  });
});
