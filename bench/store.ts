/**
 * Store benchmarks on a real local ZooKeeper:
 * - placements per second through the store port (the `assign` use case),
 *   with 1 and 8 concurrent clients, beside raw node-zookeeper-client
 *   `setData` per second at the same concurrency, measured in the same run;
 * - `locate` (GET …/{id}/instances) latency with 500,000 resources assigned
 *   over 100 instances.
 *
 * Run alone: `npx tsx bench/store.ts` (starts its own ZooKeeper).
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { DEFAULT_KINDS } from '../lib/config/kinds.js';
import { Layout } from '../lib/orchestration/layout.js';
import { silentLogger } from '../lib/log.js';
import { createOrchestration, type Orchestration } from '../lib/orchestration/index.js';
import type { NodeStore } from '../lib/store/port.js';
import { ZooKeeperStore } from '../lib/store/zookeeper.js';
import { startZooKeeper } from '../test/support/zookeeper-server.js';
import { BENCH_INSTANCES, seedInstances } from './support/seed.js';
import { rawSetDataRate } from './zk-raw.js';

type Log = (line: string) => void;

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 4000);
const INSTANCES = BENCH_INSTANCES;

let rootCounter = 0;
export const freshRoots = () => {
  const root = `/bench-${process.pid}-${rootCounter++}`;
  return { root: `${root}/orchestration`, stateRoot: `${root}/orchestrator` };
};

/** `clients` loops each placing one new resource per call for the duration; each client is a separate connection when `sessions` says so. */
async function placementRate(
  connect: string,
  clients: number,
  separateSessions: boolean,
): Promise<{ perSecond: number; placements: number }> {
  const roots = freshRoots();
  const stores: NodeStore[] = [];
  const orchestrators: Orchestration[] = [];
  for (let i = 0; i < (separateSessions ? clients : 1); i++) {
    const store = await ZooKeeperStore.connect({ connect });
    stores.push(store);
    orchestrators.push(createOrchestration({ logger: silentLogger(), store, kinds: DEFAULT_KINDS, ...roots }));
  }
  await seedInstances(stores[0]!, orchestrators[0]!.layout);
  await Promise.all(orchestrators.map((o) => o.read('Thing')));
  let placements = 0;
  const started = performance.now();
  const deadline = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const orchestrator = orchestrators[separateSessions ? client : 0]!;
      for (let n = 0; performance.now() < deadline; n++) {
        const result = await orchestrator.assign('Thing', [`bench-${client}-${n}`]);
        placements += result.assigned.length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(stores.map((s) => s.close()));
  return { perSecond: placements / seconds, placements };
}

/** `clients` OS processes, each with its own session, as concurrent Lambdas would be; same start time for all. */
export async function processRate(
  connect: string,
  mode: 'port' | 'notify' | 'raw',
  clients: number,
  roots: { root: string; stateRoot: string },
): Promise<number> {
  const startAt = Date.now() + 2500;
  const counts = await Promise.all(
    Array.from(
      { length: clients },
      (_, client) =>
        new Promise<number>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', 'bench/support/client-process.ts'], {
            env: {
              ...process.env,
              BENCH_MODE: mode,
              BENCH_CLIENT: String(client),
              BENCH_START_AT: String(startAt),
              BENCH_DURATION_MS: String(DURATION_MS),
              ZK_CONNECT: connect,
              ZK_ROOT: roots.root,
              ZK_STATE_ROOT: roots.stateRoot,
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (chunk) => (out += chunk));
          child.on('exit', (code) =>
            code === 0 ? resolve(Number(out.trim())) : reject(new Error(`bench client exited ${code}`)),
          );
        }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0) / (DURATION_MS / 1000);
}

export async function benchPlacementThroughput(connect: string, log: Log = console.log): Promise<void> {
  log('');
  log(
    `## Placements through the store port vs raw node-zookeeper-client writes (local ZooKeeper, ${INSTANCES} instances, ${DURATION_MS} ms per figure)`,
  );
  log(
    'A placement is one atomic multi of 4 znode writes (node, resources, _reload, index entry); "raw multi" is that same',
  );
  log(
    'transaction sent straight through the client, the floor for any atomic placement; "raw setData" writes one node.',
  );
  // The first seconds of a fresh JVM run interpreted; warm it so the first row is not penalised.
  await rawSetDataRate({ connect, concurrency: 8, durationMs: 2000, payload: 'x'.repeat(256) });
  log('clients  sessions  placements/s  raw setData/s  ratio   raw multi/s  ratio   target ≥ 0.70 × setData');
  for (const [clients, separate] of [
    [1, false],
    [8, false],
    [32, false],
    [8, true],
  ] as const) {
    const sessions = separate ? clients : 1;
    const placed = await placementRate(connect, clients, separate);
    const raw = await rawSetDataRate({
      connect,
      concurrency: clients,
      durationMs: DURATION_MS,
      payload: 'x'.repeat(256),
      sessions,
    });
    const multi = await rawSetDataRate({
      connect,
      concurrency: clients,
      durationMs: DURATION_MS,
      payload: 'x'.repeat(256),
      sessions,
      placementShape: true,
    });
    log(row(`${clients}`, `${sessions}`, placed.perSecond, raw.opsPerSecond, multi.opsPerSecond));
  }
  // Eight OS processes with a session each: the shape of eight concurrent Lambda invocations.
  const roots = freshRoots();
  const seeder = await ZooKeeperStore.connect({ connect });
  await seedInstances(seeder, new Layout(roots.root, roots.stateRoot));
  await seeder.close();
  const portRate = await processRate(connect, 'port', 8, roots);
  const rawRate = await processRate(connect, 'raw', 8, roots);
  log(row('8 procs', '8', portRate, rawRate));
}

const row = (clients: string, sessions: string, port: number, raw: number, multi?: number): string => {
  const ratio = port / raw;
  const vsMulti = multi
    ? `${multi.toFixed(0).padStart(11)}  ${(port / multi).toFixed(2).padStart(5)}`
    : `${'-'.padStart(11)}  ${'-'.padStart(5)}`;
  return `${clients.padStart(7)}  ${sessions.padStart(8)}  ${port.toFixed(0).padStart(12)}  ${raw.toFixed(0).padStart(13)}  ${ratio.toFixed(2).padStart(5)}  ${vsMulti}   ${ratio >= 0.7 ? 'PASS' : 'FAIL'}`;
};

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function benchLocateLatency(
  connect: string,
  log: Log = console.log,
  total = Number(process.env.BENCH_LOCATE_RESOURCES ?? 500_000),
): Promise<void> {
  if (total <= 0) return;
  log('');
  log(
    `## GET …/{id}/instances at ${total.toLocaleString('en-US')} assigned resources over ${INSTANCES} instances (local ZooKeeper)`,
  );
  log(
    'layout: one index node per resource, <state>/<Resource>/index/<id> → "<instanceId>": one getData per lookup at any scale',
  );
  const store = await ZooKeeperStore.connect({ connect });
  const orchestrator = createOrchestration({ logger: silentLogger(), store, kinds: DEFAULT_KINDS, ...freshRoots() });
  await seedInstances(store, orchestrator.layout);
  await orchestrator.read('Thing');
  const started = performance.now();
  const batch = 2000;
  const ids = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => `thing-${String(from + i).padStart(7, '0')}`);
  // Eight loaders at once: the seeding is I/O bound, not part of the figure.
  let next = 0;
  let lastReport = started;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < total) {
        const from = next;
        next += batch;
        await orchestrator.assign('Thing', ids(from, Math.min(batch, total - from)));
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          log(`  seeding… ${Math.min(next, total).toLocaleString('en-US')}/${total.toLocaleString('en-US')}`);
        }
      }
    }),
  );
  log(`seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const samples: number[] = [];
  let misses = 0;
  for (let i = 0; i < 2000; i++) {
    const id = `thing-${String(Math.floor(Math.random() * total)).padStart(7, '0')}`;
    const t0 = performance.now();
    const owner = await orchestrator.locate('Thing', id);
    samples.push(performance.now() - t0);
    if (owner === undefined) misses++;
  }
  samples.sort((a, b) => a - b);
  log(
    `lookups 2000, misses ${misses}: p50 ${percentile(samples, 50).toFixed(2)} ms, p95 ${percentile(samples, 95).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms, max ${samples.at(-1)!.toFixed(2)} ms   target p50 ≤ 50 ms: ${percentile(samples, 50) <= 50 ? 'PASS' : 'FAIL'}`,
  );
  const t0 = performance.now();
  const state = await orchestrator.read('Thing');
  log(
    `for comparison, reading the whole orchestration (${state.reduce((s, i) => s + i.used, 0).toLocaleString('en-US')} ids in ${state.length} lists): ${(performance.now() - t0).toFixed(0)} ms`,
  );
  await store.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const zk = await startZooKeeper();
  try {
    await benchPlacementThroughput(zk.connect);
    await benchLocateLatency(zk.connect);
  } finally {
    await zk.stop();
  }
}
