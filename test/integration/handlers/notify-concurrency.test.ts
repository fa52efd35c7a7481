/**
 * Many Lambda invocations at once: four OS processes deliver over 2,000
 * cm/notify creates and deletes (single and bulk) through handleNotifyMessage
 * against one real ZooKeeper, then deliver all of them a second time. The
 * store, read directly, must hold every live resource exactly once, on an
 * instance with used == ids.length <= count, and nothing else.
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
import { expectedLiveIds, messageCount, type LoadSummary } from './notify-load.js';

const WORKERS = 4;
/** Fewer seats than the live set needs: the run must also create instances while racing. */
const SEEDED_INSTANCES = 4;
const SEEDED_COUNT = 300;
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'notify-load.ts');

const root = uniqueRoot('notify-concurrency');
const env = {
  ZK_CONNECT: inject('zkConnect'),
  ZK_ROOT: `${root}/orchestration`,
  ZK_STATE_ROOT: `${root}/orchestrator`,
};
const layout = new Layout(env.ZK_ROOT, env.ZK_STATE_ROOT);

function runWorker(worker: number): Promise<LoadSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, String(worker)], {
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
      if (code !== 0) return reject(new Error(`worker ${worker} exited with ${code}: ${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadSummary);
    });
  });
}

const deliverAll = () => Promise.all(Array.from({ length: WORKERS }, (_, worker) => runWorker(worker)));

let store: NodeStore;
beforeAll(async () => {
  store = await openStore(env);
  await seedKind(store, layout, 'Thing', SEEDED_INSTANCES, SEEDED_COUNT);
});
afterAll(async () => {
  await store?.close();
});

describe('cm/notify from 4 processes at once (ZooKeeper)', () => {
  const live = expectedLiveIds(WORKERS);
  let firstPass: Map<string, string>;

  it('delivers over 2,000 creates and deletes without losing or duplicating an assignment', async () => {
    const messages = Array.from({ length: WORKERS }, (_, worker) => messageCount(worker)).reduce((a, b) => a + b, 0);
    expect(messages).toBeGreaterThanOrEqual(2000);

    const summaries = await deliverAll();

    expect(summaries.map((summary) => summary.deadLettered)).toEqual([0, 0, 0, 0]);
    expect(summaries.reduce((sum, summary) => sum + summary.messages, 0)).toBe(messages);
    const instances = await readLegacyLayout(store, env.ZK_ROOT, 'Thing');
    for (const instance of instances) {
      expect(instance.used, `instance ${instance.id}`).toBe(instance.ids.length);
      expect(instance.used, `instance ${instance.id}`).toBeLessThanOrEqual(instance.count);
    }
    firstPass = placements(instances);
    expect([...firstPass.keys()].sort()).toEqual(live);
    expect(instances.length).toBeGreaterThan(SEEDED_INSTANCES);
  });

  it('keeps the index in step with the lists: every live resource points at its instance, no deleted one remains', async () => {
    const indexed = await store.children(layout.indexDir('Thing'));
    const entries = await store.getMany(live.map((id) => layout.index('Thing', id)));

    expect(indexed.sort()).toEqual(live);
    const misplaced = live
      .filter((id, i) => entries[i]?.data !== firstPass.get(id))
      .map((id) => `${id}: index ${entries[live.indexOf(id)]?.data}, list ${firstPass.get(id)}`);
    expect(misplaced).toEqual([]);
  });

  it('ends in the same state when every message is delivered a second time', async () => {
    const summaries = await deliverAll();

    expect(summaries.map((summary) => summary.deadLettered)).toEqual([0, 0, 0, 0]);
    const instances = await readLegacyLayout(store, env.ZK_ROOT, 'Thing');
    for (const instance of instances) {
      expect(instance.used).toBe(instance.ids.length);
      expect(instance.used).toBeLessThanOrEqual(instance.count);
    }
    // Live resources stay where they were; deleted ones came back and left again.
    expect(placements(instances)).toEqual(firstPass);
    expect((await store.children(layout.indexDir('Thing'))).sort()).toEqual(live);
  });
});
