/**
 * cm/notify through the batch handler (the notify function on SQS batches)
 * on a real local ZooKeeper with 100 instances: sustained create placements
 * per second, against raw node-zookeeper-client `setData` per second with the
 * same number of clients, measured in the same run (the machine's speed
 * cancels out of the ratio):
 *   1 consumer, batches of 100                   target ≥ 3.0 × setData (goal 10)
 *   8 OS processes, one session each, batches of 100   target ≥ 2.0 (goal 5)
 * Then the invariants, read straight from the store: every id in exactly one
 * list, the index naming that list, `_reload` bumped once per touched
 * instance per batch.
 *
 * Run alone: `npx tsx bench/notify.ts` (starts its own ZooKeeper).
 */
import { pathToFileURL } from 'node:url';
import { createApp } from '../lib/app.js';
import { DEFAULT_KINDS } from '../lib/config/kinds.js';
import { handleNotifyBatch } from '../lib/handlers/notify-batch.js';
import { silentLogger } from '../lib/log.js';
import { Layout } from '../lib/orchestration/layout.js';
import type { NodeStore } from '../lib/store/port.js';
import { ZooKeeperStore } from '../lib/store/zookeeper.js';
import { startZooKeeper } from '../test/support/zookeeper-server.js';
import { freshRoots, processRate } from './store.js';
import { createBatch } from './support/notify-batches.js';
import { BENCH_INSTANCES, seedInstances } from './support/seed.js';
import { rawSetDataRate } from './zk-raw.js';

type Log = (line: string) => void;

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 4000);
const BATCH = 100;
const PAYLOAD = 'x'.repeat(256);

interface Invariants {
  readonly ids: number;
  readonly onTwoLists: number;
  readonly indexMismatches: number;
  readonly reloadBumps: number;
  readonly touchedPerBatch: number;
}

/** One consumer in this process: batches of creates back to back for the duration. */
async function oneConsumer(connect: string): Promise<{ perSecond: number; invariants: Invariants }> {
  const roots = freshRoots();
  const env = { ZK_CONNECT: connect, ZK_ROOT: roots.root, ZK_STATE_ROOT: roots.stateRoot };
  const app = await createApp(env, { kinds: DEFAULT_KINDS, logger: silentLogger() });
  await seedInstances(app.store, app.orchestrator.layout);
  await app.orchestrator.read('Thing');
  let placed = 0;
  let touchedPerBatch = 0;
  const started = performance.now();
  for (let n = 0; performance.now() - started < DURATION_MS; n++) {
    const result = await handleNotifyBatch(app, createBatch(`one-${n}`, BATCH));
    const assigned = result.kinds.flatMap((kind) => kind.assigned);
    placed += assigned.length;
    touchedPerBatch += new Set(assigned.map((placement) => placement.instanceId)).size;
  }
  const perSecond = placed / ((performance.now() - started) / 1000);
  const invariants = await checkInvariants(app.store, app.orchestrator.layout, touchedPerBatch);
  await app.close();
  return { perSecond, invariants };
}

async function checkInvariants(store: NodeStore, layout: Layout, touchedPerBatch: number): Promise<Invariants> {
  const ids = (await store.children(layout.kind('Thing'))).filter((id) => /^\d+$/.test(id));
  const nodes = await store.getMany(ids.flatMap((id) => [layout.resources('Thing', id), layout.reload('Thing', id)]));
  const owner = new Map<string, string>();
  let onTwoLists = 0;
  let reloadBumps = 0;
  ids.forEach((id, i) => {
    for (const resource of (JSON.parse(nodes[2 * i]!.data) as { ids: string[] }).ids) {
      if (owner.has(resource)) onTwoLists++;
      owner.set(resource, id);
    }
    reloadBumps += (JSON.parse(nodes[2 * i + 1]!.data) as { times: number }).times;
  });
  const resources = [...owner.keys()];
  let indexMismatches = 0;
  for (let i = 0; i < resources.length; i += 5000) {
    const slice = resources.slice(i, i + 5000);
    const entries = await store.getMany(slice.map((id) => layout.index('Thing', id)));
    slice.forEach((id, j) => {
      if (entries[j]?.data !== owner.get(id)) indexMismatches++;
    });
  }
  return { ids: resources.length, onTwoLists, indexMismatches, reloadBumps, touchedPerBatch };
}

const ratioRow = (label: string, sessions: string, rate: number, raw: number, target: number, goal: number): string => {
  const ratio = rate / raw;
  const verdict = ratio >= goal ? 'PASS (goal)' : ratio >= target ? 'PASS' : 'FAIL';
  return `${label.padEnd(26)}  ${sessions.padStart(8)}  ${rate.toFixed(0).padStart(12)}  ${raw.toFixed(0).padStart(13)}  ${ratio.toFixed(2).padStart(5)}  ≥ ${target} (goal ${goal}): ${verdict}`;
};

export async function benchNotify(connect: string, log: Log = console.log): Promise<void> {
  log('');
  log(
    `## cm/notify creates through the batch handler vs raw setData (local ZooKeeper, ${BENCH_INSTANCES} instances, batches of ${BATCH}, ${DURATION_MS} ms per figure)`,
  );
  // A fresh JVM runs interpreted at first; warm it so the first row is not penalised.
  await rawSetDataRate({ connect, concurrency: 8, durationMs: 2000, payload: PAYLOAD });
  log('consumers                   sessions  placements/s  raw setData/s  ratio  target');

  const one = await oneConsumer(connect);
  const rawOne = await rawSetDataRate({ connect, concurrency: 1, durationMs: DURATION_MS, payload: PAYLOAD });
  log(ratioRow('1 (batches of 100)', '1', one.perSecond, rawOne.opsPerSecond, 3, 10));

  const roots = freshRoots();
  const seeder = await ZooKeeperStore.connect({ connect });
  const layout = new Layout(roots.root, roots.stateRoot);
  await seedInstances(seeder, layout);
  const eight = await processRate(connect, 'notify', 8, roots);
  const rawEight = await processRate(connect, 'raw', 8, roots);
  log(ratioRow('8 OS processes', '8', eight, rawEight, 2, 5));
  const many = await checkInvariants(seeder, layout, 0);
  await seeder.close();

  const { invariants } = one;
  log(
    `invariants, 1 consumer: ${invariants.ids} ids, ${invariants.onTwoLists} on two lists, ${invariants.indexMismatches} index entries not naming their list, ` +
      `_reload bumps ${invariants.reloadBumps} for ${invariants.touchedPerBatch} (batch, touched instance) pairs: ` +
      (invariants.onTwoLists === 0 &&
      invariants.indexMismatches === 0 &&
      invariants.reloadBumps === invariants.touchedPerBatch
        ? 'PASS'
        : 'FAIL'),
  );
  log(
    `invariants, 8 processes: ${many.ids} ids, ${many.onTwoLists} on two lists, ${many.indexMismatches} index entries not naming their list: ` +
      (many.onTwoLists === 0 && many.indexMismatches === 0 ? 'PASS' : 'FAIL'),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const zk = await startZooKeeper();
  try {
    await benchNotify(zk.connect);
  } finally {
    await zk.stop();
  }
}
