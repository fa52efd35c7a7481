/**
 * Handler benchmarks on a real local ZooKeeper:
 * - cm/notify placements per second, one message per call of
 *   `handleNotifyBatch` (a batch of one, as `npm start` consumes MQTT), with 8
 *   concurrent clients (each its own App and session, like 8 warm Lambda
 *   containers; and 8 sharing one), beside raw `setData` per second at the
 *   same concurrency, measured in the same run;
 * - a HeartBeat batch of 10,000 records across 100 instances, fresh (one
 *   write per instance) and redelivered (no write), through
 *   `handleHeartbeatRecords` and through the Lambda's `handleMskEvent`:
 *   median time per batch beside the raw floor (bare base64 + JSON.parse of
 *   every record, and bare getData/setData of the 100 nodes) measured in the
 *   same rounds (target: ≤ 50 ms, ≤ 100 writes); and the reading alone
 *   (`readHeartbeatBatch`, no store) beside the bare decode + JSON.parse.
 *
 * Run alone: `npx tsx bench/handlers.ts` (starts its own ZooKeeper).
 */
import { performance } from 'node:perf_hooks';
import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp, type App } from '../lib/app.js';
import zookeeper from 'node-zookeeper-client';
import { handleHeartbeatRecords, handleMskEvent, type HeartbeatRecordInput } from '../lib/handlers/heartbeat.js';
import { readHeartbeatBatch } from '../lib/handlers/heartbeat-decode.js';
import { handleNotifyBatch } from '../lib/handlers/notify-batch.js';
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
const HEARTBEAT_ROUNDS = Number(process.env.BENCH_HEARTBEAT_ROUNDS ?? 9);

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
        const result = await handleNotifyBatch(app, [
          { id, payload: JSON.stringify({ o: 'c', t: 'Thing', k: { id }, instance: { id, name: `thing ${n}` } }) },
        ]);
        for (const kind of result.kinds) placements += kind.assigned.length;
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
    `## cm/notify creates, one per handleNotifyBatch call, vs raw setData (local ZooKeeper, ${INSTANCES} instances, ${DURATION_MS} ms per figure)`,
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

/** The same records as the MSK event source delivers them: grouped by topic-partition, with key and headers. */
function mskEvent(records: readonly HeartbeatRecordInput[]): unknown {
  const byPartition: Record<string, unknown[]> = {};
  for (const record of records)
    (byPartition[`${record.topic}-${record.partition}`] ??= []).push({
      ...record,
      timestampType: 'CREATE_TIME',
      key: Buffer.from(`Thing/${record.offset! % INSTANCES}`).toString('base64'),
      headers: [{ 'content-type': [...Buffer.from('application/json')] }],
    });
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/iota-msk/bench',
    records: byPartition,
  };
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const promised = <T>(start: (done: (error: unknown, value: T) => void) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));

/**
 * The raw floor of a batch, with none of the handler's checks: every value
 * base64-decoded and JSON-parsed, then the heartbeat nodes of 100 instances
 * read (and, for a fresh batch, rewritten) with bare node-zookeeper-client
 * calls in parallel on one session.
 */
async function rawHeartbeatFloor(connect: string): Promise<{
  parse: (records: readonly HeartbeatRecordInput[]) => void;
  read: () => Promise<void>;
  readWrite: () => Promise<void>;
  close: () => Promise<void>;
}> {
  const client = zookeeper.createClient(connect, { sessionTimeout: 30_000 });
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  const root = `/bench-heartbeat-raw-${process.pid}`;
  const paths = Array.from({ length: INSTANCES }, (_, i) => `${root}/${i}`);
  const data = Buffer.from(
    JSON.stringify({ at: Date.now(), extra: { ip: '10.0.0.7', version: '3.4.2', things: 412 } }),
  );
  await promised<string>((done) => client.mkdirp(root, done));
  await Promise.all(paths.map((path) => promised<string>((done) => client.create(path, data, done))));
  const getAll = () =>
    Promise.all(paths.map((path) => promised<Buffer | null | undefined>((done) => client.getData(path, done))));
  return {
    parse(records) {
      let parsed = 0;
      for (const record of records) if (JSON.parse(Buffer.from(record.value, 'base64').toString('utf8'))) parsed++;
      if (parsed !== records.length) throw new Error('raw parse lost records');
    },
    async read() {
      await getAll();
    },
    async readWrite() {
      await getAll();
      await Promise.all(paths.map((path) => promised<zookeeper.Stat>((done) => client.setData(path, data, -1, done))));
    },
    close: async () => {
      await Promise.all(
        paths.map((path) => promised<void>((done) => client.remove(path, -1, (error) => done(error, undefined)))),
      ).catch(() => undefined);
      await promised<void>((done) => client.remove(root, -1, (error) => done(error, undefined))).catch(() => undefined);
      client.close();
    },
  };
}

/**
 * A full collection on demand, so that each timed call starts on a settled
 * heap: without it, the garbage of building one batch (or of the call before)
 * is collected during whichever call comes next, and a handler that allocates
 * less only moves that cost onto the next figure.
 */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Wall and CPU time (this process: the handler and its ZooKeeper client) of one call, on a settled heap. */
async function timed<T>(work: () => Promise<T> | T): Promise<{ value: T; ms: number; cpuMs: number }> {
  collectGarbage();
  // The collector sweeps on helper threads after a full collection: let it finish outside the figure.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const cpu = process.cpuUsage();
  const began = performance.now();
  const value = await work();
  const ms = performance.now() - began;
  const used = process.cpuUsage(cpu);
  return { value, ms, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * Rounds of: a fresh batch (newer beats: one write per instance) and a
 * redelivered one (older beats: no write), each through the records entry
 * point and through the Lambda's MSK event entry point, interleaved with the
 * raw floor so that all figures share the machine's load. Medians per path,
 * of wall time and of this process's CPU time (which other load on the
 * machine inflates less).
 */
export async function benchHeartbeatBatch(
  connect: string,
  log: Log = console.log,
  rounds = HEARTBEAT_ROUNDS,
): Promise<void> {
  const env = freshEnv(connect);
  const store = countingCommits(await ZooKeeperStore.connect({ connect }));
  const app = await appOn(env, store);
  const raw = await rawHeartbeatFloor(connect);
  log('');
  log(
    `## HeartBeat batch: ${HEARTBEAT_RECORDS} records across ${INSTANCES} instances (local ZooKeeper), median of ${rounds} rounds`,
  );
  const loadBefore = loadavg()[0]!;

  type Entry = 'records' | 'msk';
  type Figure = { ms: number; cpuMs: number };
  const run = async (entry: Entry, start: number, expectedWrites: number): Promise<Figure> => {
    const records = heartbeatBatch(start);
    // As the Lambda runtime hands it over: parsed from JSON.
    const event = entry === 'msk' ? JSON.parse(JSON.stringify(mskEvent(records))) : undefined;
    const options = { now: () => start + HEARTBEAT_RECORDS + 1000 };
    const before = store.commits;
    const {
      value: result,
      ms,
      cpuMs,
    } = await timed(() =>
      entry === 'msk'
        ? handleMskEvent(app, event, undefined, options)
        : handleHeartbeatRecords(app, records, undefined, options),
    );
    // Every node a batch writes goes in one transaction (recordHeartbeats), none when nothing is newer.
    const commits = store.commits - before;
    if (commits !== (expectedWrites > 0 ? 1 : 0))
      throw new Error(
        `${entry}: the store saw ${commits} commits for ${result.writes} writes, expected one transaction`,
      );
    if (result.writes !== expectedWrites || result.instances !== INSTANCES || result.malformed !== 0)
      throw new Error(`${entry}: ${JSON.stringify(result)}, expected ${expectedWrites} writes`);
    return { ms, cpuMs };
  };

  const base = Date.now() - 3_600_000;
  const first = await run('records', base, INSTANCES);
  log(`first batch (creates the ${INSTANCES} nodes): ${first.ms.toFixed(1)} ms`);
  const figures = {
    recordsFresh: [] as Figure[],
    recordsAgain: [] as Figure[],
    mskFresh: [] as Figure[],
    mskAgain: [] as Figure[],
    rawParse: [] as Figure[],
    rawReadWrite: [] as Figure[],
    rawRead: [] as Figure[],
    read: [] as Figure[],
  };
  const kinds = app.kinds.map((kind) => kind.resource);
  const older = heartbeatBatch(base);
  for (let round = 1; round <= rounds; round++) {
    figures.recordsFresh.push(await run('records', base + round * 120_000, INSTANCES));
    figures.recordsAgain.push(await run('records', base, 0));
    figures.mskFresh.push(await run('msk', base + round * 120_000 + 60_000, INSTANCES));
    figures.mskAgain.push(await run('msk', base, 0));
    figures.rawParse.push(await timed(() => raw.parse(older)));
    figures.rawReadWrite.push(await timed(raw.readWrite));
    figures.rawRead.push(await timed(raw.read));
    figures.read.push(
      await timed(() => readHeartbeatBatch(older, { kinds, now: base, encoding: 'base64', logLimit: 10 })),
    );
  }
  await raw.close();
  await app.close();

  const wall = (values: readonly Figure[]) => median(values.map((figure) => figure.ms));
  const cpu = (values: readonly Figure[]) => median(values.map((figure) => figure.cpuMs));
  const rawFresh = wall(figures.rawParse) + wall(figures.rawReadWrite);
  const rawAgain = wall(figures.rawParse) + wall(figures.rawRead);
  const range = (values: readonly Figure[]) => {
    const ms = values.map((figure) => figure.ms);
    return `${Math.min(...ms).toFixed(1)}–${Math.max(...ms).toFixed(1)}`.padStart(12);
  };
  log('batch                                  writes  median ms        range  cpu ms  raw ms  ratio   target ≤ 50 ms');
  const line = (label: string, writes: number, values: readonly Figure[], rawMs: number) => {
    const ms = wall(values);
    log(
      `${label.padEnd(38)} ${String(writes).padStart(6)}  ${ms.toFixed(1).padStart(9)} ${range(values)}  ${cpu(values).toFixed(1).padStart(6)}  ${rawMs.toFixed(1).padStart(6)}  ${(ms / rawMs).toFixed(2).padStart(5)}   ${ms <= 50 ? 'PASS' : 'FAIL'}`,
    );
  };
  line('records, fresh', INSTANCES, figures.recordsFresh, rawFresh);
  line('records, redelivered (older)', 0, figures.recordsAgain, rawAgain);
  line('MSK event (the Lambda), fresh', INSTANCES, figures.mskFresh, rawFresh);
  line('MSK event (the Lambda), redelivered', 0, figures.mskAgain, rawAgain);
  log(
    `raw floor (ratio = median / raw): decode + JSON.parse ${wall(figures.rawParse).toFixed(1)} ms (cpu ${cpu(figures.rawParse).toFixed(1)}); ` +
      `${INSTANCES} parallel getData + setData ${wall(figures.rawReadWrite).toFixed(1)} ms (cpu ${cpu(figures.rawReadWrite).toFixed(1)}), ` +
      `getData alone ${wall(figures.rawRead).toFixed(1)} ms (cpu ${cpu(figures.rawRead).toFixed(1)})`,
  );
  log(
    `reading alone (readHeartbeatBatch, no store): ${wall(figures.read).toFixed(1)} ms (cpu ${cpu(figures.read).toFixed(1)}), ` +
      `${(wall(figures.read) / wall(figures.rawParse)).toFixed(2)} × the bare decode + JSON.parse of every record; ` +
      `load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} (1 min, ${availableParallelism()} cores)`,
  );
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
