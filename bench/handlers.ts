/**
 * Handler benchmarks on a real local ZooKeeper:
 * - cm/notify placements per second through `handleNotifyMessage` with 8
 *   concurrent clients (each its own App and session, like 8 warm Lambda
 *   containers; and 8 sharing one), beside raw `setData` per second at the
 *   same concurrency, measured in the same run;
 * - one HeartBeat batch of 10,000 records across 100 instances through
 *   `handleHeartbeatRecords`: processing time and store writes
 *   (targets: < 200 ms, ≤ 100 writes).
 *
 * Run alone: `npx tsx bench/handlers.ts` (starts its own ZooKeeper).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createApp, type App } from '../lib/app.js';
import { handleHeartbeatRecords, type HeartbeatRecordInput } from '../lib/handlers/heartbeat.js';
import { handleNotifyMessage } from '../lib/handlers/notify.js';
import { silentLogger } from '../lib/log.js';
import { Layout } from '../lib/orchestration/layout.js';
import type { NodeStore, VersionedNode, WriteOp } from '../lib/store/port.js';
import { ZooKeeperStore } from '../lib/store/zookeeper.js';
import { startZooKeeper } from '../test/support/zookeeper-server.js';
import { BENCH_INSTANCES, seedInstances } from './support/seed.js';
import { rawSetDataRate } from './zk-raw.js';

type Log = (line: string) => void;

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 4000);
const CLIENTS = 8;
const INSTANCES = BENCH_INSTANCES;
const HEARTBEAT_RECORDS = 10_000;

const silent = silentLogger();
let rootCounter = 0;
const freshEnv = (connect: string) => {
  const root = `/bench-handlers-${process.pid}-${rootCounter++}`;
  return { ZK_CONNECT: connect, ZK_ROOT: `${root}/orchestration`, ZK_STATE_ROOT: `${root}/orchestrator` };
};

/** Delegates to a store and counts the commits that succeeded (one commit = one ZooKeeper multi/write). */
function countingCommits(inner: NodeStore): NodeStore & { commits: number } {
  const counted = {
    commits: 0,
    get description() {
      return inner.description;
    },
    get: (path: string): Promise<VersionedNode | undefined> => inner.get(path),
    getMany: (paths: readonly string[]) => inner.getMany(paths),
    children: (path: string) => inner.children(path),
    async commit(ops: readonly WriteOp[]): Promise<void> {
      await inner.commit(ops);
      counted.commits++;
    },
    ensurePath: (path: string) => inner.ensurePath(path),
    watch: (path: string, onChange: () => void) => inner.watch(path, onChange),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return counted;
}

const appOn = async (env: NodeJS.ProcessEnv, store?: NodeStore): Promise<App> =>
  createApp(env, {
    logger: silent,
    ...(store ? { store } : { store: await ZooKeeperStore.connect({ connect: env.ZK_CONNECT! }) }),
  });

/** `clients` loops, each delivering cm/notify creates of new Things for the duration. */
async function notifyRate(
  connect: string,
  clients: number,
  sessions: number,
): Promise<{ perSecond: number; placements: number }> {
  const env = freshEnv(connect);
  const apps = await Promise.all(Array.from({ length: sessions }, () => appOn(env)));
  await seedInstances(apps[0]!.store, new Layout(env.ZK_ROOT, env.ZK_STATE_ROOT));
  // Warm each container's cache, as a warm Lambda would have it.
  await Promise.all(apps.map((app) => app.orchestrator.read('Thing')));
  let placements = 0;
  const started = performance.now();
  const deadline = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const app = apps[client % sessions]!;
      for (let n = 0; performance.now() < deadline; n++) {
        const id = `bench-${client}-${n}`;
        const outcome = await handleNotifyMessage(app, {
          o: 'c',
          t: 'Thing',
          k: { id },
          instance: { id, name: `thing ${n}` },
        });
        if (outcome.status === 'assigned') placements += outcome.result.assigned.length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(apps.map((app) => app.close()));
  return { perSecond: placements / seconds, placements };
}

export async function benchNotify(connect: string, log: Log = console.log): Promise<void> {
  log('');
  log(
    `## cm/notify creates through handleNotifyMessage vs raw setData (local ZooKeeper, ${INSTANCES} instances, ${DURATION_MS} ms per figure)`,
  );
  log('clients  sessions  placements/s  raw setData/s  ratio');
  for (const sessions of [CLIENTS, 1]) {
    const notify = await notifyRate(connect, CLIENTS, sessions);
    const raw = await rawSetDataRate({
      connect,
      concurrency: CLIENTS,
      durationMs: DURATION_MS,
      payload: 'x'.repeat(256),
      sessions,
    });
    log(
      `${String(CLIENTS).padStart(7)}  ${String(sessions).padStart(8)}  ${notify.perSecond.toFixed(0).padStart(12)}  ${raw.opsPerSecond.toFixed(0).padStart(13)}  ${(notify.perSecond / raw.opsPerSecond).toFixed(2).padStart(5)}`,
    );
  }
}

/** 10,000 MSK-style records (base64 values) from 100 instances, 100 beats each, timestamps from `start`. */
function heartbeatBatch(start: number): HeartbeatRecordInput[] {
  return Array.from({ length: HEARTBEAT_RECORDS }, (_, i) => {
    const instanceId = String(i % INSTANCES);
    const value = Buffer.from(
      JSON.stringify({
        resource: 'Thing',
        instanceId,
        ip: `10.0.${i % INSTANCES}.7`,
        version: '3.4.2',
        things: 400 + (i % 13),
      }),
    ).toString('base64');
    return { value, timestamp: start + i, topic: 'HeartBeat', partition: i % 6, offset: 1_000_000 + i };
  });
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchHeartbeatBatch(connect: string, log: Log = console.log): Promise<void> {
  const env = freshEnv(connect);
  const store = countingCommits(await ZooKeeperStore.connect({ connect }));
  const app = await appOn(env, store);
  log('');
  log(
    `## HeartBeat batch: ${HEARTBEAT_RECORDS} records across ${INSTANCES} instances through handleHeartbeatRecords (local ZooKeeper)`,
  );
  log('batch                        ms   writes  instances   target < 200 ms, ≤ 100 writes');
  const run = async (label: string, start: number): Promise<{ ms: number; writes: number }> => {
    const records = heartbeatBatch(start);
    const before = store.commits;
    const began = performance.now();
    const result = await handleHeartbeatRecords(app, records, undefined, {
      now: () => start + HEARTBEAT_RECORDS + 1000,
    });
    const ms = performance.now() - began;
    const writes = store.commits - before;
    if (result.writes !== writes) throw new Error(`handler reported ${result.writes} writes, the store saw ${writes}`);
    const verdict = ms < 200 && writes <= INSTANCES ? 'PASS' : 'FAIL';
    log(
      `${label.padEnd(26)} ${ms.toFixed(1).padStart(6)}  ${String(writes).padStart(7)}  ${String(result.instances).padStart(9)}   ${verdict}`,
    );
    return { ms, writes };
  };
  const base = Date.now() - 3_600_000;
  await run('first (creates nodes)', base);
  const warm: number[] = [];
  for (let i = 1; i <= 5; i++) warm.push((await run(`steady #${i}`, base + i * 60_000)).ms);
  await run('redelivered (older)', base);
  log(`steady-state median: ${median(warm).toFixed(1)} ms`);
  await app.close();
}

export async function benchHandlers(connect: string, log: Log = console.log): Promise<void> {
  await benchNotify(connect, log);
  await benchHeartbeatBatch(connect, log);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const zk = await startZooKeeper();
  try {
    await benchHandlers(zk.connect);
  } finally {
    await zk.stop();
  }
}
