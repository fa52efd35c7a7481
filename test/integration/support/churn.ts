/**
 * One OS process of the store concurrency proof: places and removes random
 * resources through the real use cases against a shared store, and prints
 * what it did as JSON for the parent test to check against the end state.
 *
 * env: ZK_CONNECT (else ORCH_DATA_DIR for SQLite), ZK_ROOT, ZK_STATE_ROOT,
 *      CHURN_WORKER (0..n), CHURN_OPS, CHURN_SHARED (size of the id pool all workers race on)
 */
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { silentLogger } from '../../../lib/log.js';
import { createOrchestration } from '../../../lib/orchestration/index.js';
import { openStore } from '../../../lib/store/open.js';

const worker = Number(process.env.CHURN_WORKER ?? 0);
const ops = Number(process.env.CHURN_OPS ?? 500);
const sharedPool = Number(process.env.CHURN_SHARED ?? 100);

// A small deterministic PRNG per worker, so a failure can be replayed.
let seed = 0x9e3779b9 ^ (worker * 7919);
const random = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};

const store = await openStore(process.env);
const orchestrator = createOrchestration({
  logger: silentLogger(),
  store,
  kinds: DEFAULT_KINDS,
  root: process.env.ZK_ROOT,
  stateRoot: process.env.ZK_STATE_ROOT,
});

/** Own ids: this worker alone decides their fate, so their final presence is known. */
const ownLive = new Set<string>();
const ownRemoved = new Set<string>();
let placed = 0;
let removed = 0;
/** Calls that changed an existing instance's list: each must have bumped its `_reload` once. */
let reloadBumps = 0;
const createdInstances: string[] = [];
let nextOwn = 0;

for (let i = 0; i < ops; i++) {
  const shared = random() < 0.3;
  const place = ownLive.size === 0 || random() < 0.65;
  let id: string;
  if (shared) id = `shared-${Math.floor(random() * sharedPool)}`;
  else if (place) id = `w${worker}-${nextOwn++}`;
  else id = [...ownLive][Math.floor(random() * ownLive.size)]!;

  if (place) {
    const result = await orchestrator.assign('Thing', [id]);
    placed += result.assigned.length;
    createdInstances.push(...result.createdInstances);
    if (result.assigned.length > 0 && result.createdInstances.length === 0) reloadBumps++;
    if (!shared) ownLive.add(id);
  } else {
    const result = await orchestrator.unassign('Thing', [id]);
    removed += result.removed.length;
    if (result.removed.length > 0) reloadBumps++;
    if (!shared) {
      ownLive.delete(id);
      ownRemoved.add(id);
    }
  }
}
await store.close();
process.stdout.write(
  JSON.stringify({
    worker,
    placed,
    removed,
    reloadBumps,
    createdInstances,
    ownLive: [...ownLive],
    ownRemoved: [...ownRemoved].filter((id) => !ownLive.has(id)),
  }) + '\n',
);
