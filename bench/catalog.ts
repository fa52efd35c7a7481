/**
 * A catalog anti-entropy pass at full scale (issue 11, "Performance"), on a
 * real local ZooKeeper and a real local PostgreSQL, both started for it:
 *
 * - Seed: 100 Thing instances of 5,000 ids each, written straight into the
 *   legacy layout with one index entry per id, and a "Thing" table
 *   (id uuid PRIMARY KEY, the platform's type) holding the same ids.
 *   Ids are deterministic uuids built from their index, so both sides are
 *   generated without holding 500,000 strings.
 * - Drift (1 % each way by default): rows deleted from the table whose ids
 *   stay assigned (lost deletes, under the 5 % guard) and rows inserted whose
 *   ids are not assigned (lost creates).
 * - Pass 1 heals the drift; pass 2, with none left, must write nothing but its
 *   own lease and result.
 *
 * Catalog queries and store reads and commits are counted by wrappers; wall
 * time, and RSS and heap sampled every 50 ms during each pass; ZooKeeper's
 * live heap after seeding and after each pass (a full GC, then
 * `jcmd GC.heap_info`, when the JDK's jcmd is installed). Prints figures and
 * the issue's targets; asserts nothing.
 *
 *   npm run bench -- catalog
 *   npx tsx bench/catalog.ts          (starts its own ZooKeeper and PostgreSQL)
 *
 * BENCH_CATALOG_RESOURCES (500000) scales the seed down (100 instances, fewer ids each);
 * BENCH_CATALOG_DRIFT (1 % of it) sets the lost deletes and the lost creates, each;
 * BENCH_CATALOG_HEADROOM (0.02) is the room per instance above its seeded ids, as the kind's stored
 * resourcePerInstance: at 0 the seeded kind is full at its maximum and lost creates can only go pending;
 * BENCH_CATALOG_ZK_HEAP_MB (1024) is the heap of the bench's ZooKeeper.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { type App, createApp } from '../lib/app.js';
import { openPostgresCatalog } from '../lib/catalog/postgres.js';
import { DEFAULT_KINDS } from '../lib/config/kinds.js';
import { silentLogger } from '../lib/log.js';
import { encodeInstanceData, encodeReload, encodeResources, Layout } from '../lib/orchestration/layout.js';
import type { CatalogPass, CatalogReader } from '../lib/orchestration/types.js';
import {
  isConflict,
  type NodeStore,
  StoreUnavailableError,
  type VersionedNode,
  type WriteOp,
} from '../lib/store/port.js';
import { ZooKeeperStore } from '../lib/store/zookeeper.js';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres-database.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { type RunningZooKeeper, startZooKeeper } from '../test/support/zookeeper-server.js';
import { BENCH_INSTANCES } from './support/seed.js';

type Log = (line: string) => void;

const RESOURCE = 'Thing';
const TARGET_SECONDS = 60;
const TARGET_RSS_MB = 256;
/** Healing commits allowed per instance the pass touched: a few, whatever the number of ids. */
const COMMITS_PER_TOUCHED_INSTANCE = 3;
/** Index entries per seeding multi, and seeding multis in flight. */
const INDEX_OPS_PER_MULTI = 400;
const SEED_PARALLEL = 8;
/** Instances (4 nodes each, with their full lists) per seeding multi. */
const INSTANCES_PER_SEED_MULTI = 4;
const SAMPLE_EVERY_MS = 50;
/** The bench's ZooKeeper heap: the 500k seed's nodes, with room for the passes' transactions (see the figures). */
const ZOOKEEPER_HEAP_MB = 1024;
const MB = 1024 * 1024;
const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------- ids

/**
 * The uuid of resource number `i`: a Knuth multiplicative hash of `i` in front (so consecutive ids, and the
 * ids of one instance, spread over the whole key range) and `i` itself at the end (so they are unique).
 * UUID_SQL computes the same text in PostgreSQL; exact in doubles while i * 2654435761 < 2^53.
 */
const uuidOf = (i: number): string =>
  `${((i * 2654435761) % 4294967296).toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const UUID_SQL = `(lpad(to_hex((i * 2654435761) % 4294967296), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid`;

interface Shape {
  readonly total: number;
  readonly instances: number;
  /** Resource `i` is on instance `i % instances`. */
  readonly perInstance: number;
  /** The kind's stored resourcePerInstance. */
  readonly capacity: number;
  readonly drift: number;
  readonly zooKeeperHeapMb: number;
}

/**
 * Assigned ids (index < total) whose rows are deleted from the table: one in each of `drift` equal slices of the
 * range, at a varying offset so that they fall on every instance (resource `i` is on instance `i % instances`).
 */
const lostDeletes = (shape: Shape): number[] => {
  const stride = Math.floor(shape.total / shape.drift);
  return Array.from({ length: shape.drift }, (_, k) => k * stride + (k % stride));
};
/** Rows inserted into the table whose ids are not assigned: the next `drift` numbers after the seeded ones. */
const lostCreates = (shape: Shape): number[] => Array.from({ length: shape.drift }, (_, k) => shape.total + k);

function shapeFromEnv(env: NodeJS.ProcessEnv = process.env): Shape {
  const total = Number(env.BENCH_CATALOG_RESOURCES ?? 500_000);
  if (!Number.isInteger(total) || total < 1000 || total > 2_000_000)
    throw new Error(
      `BENCH_CATALOG_RESOURCES must be an integer in [1000, 2000000], got ${env.BENCH_CATALOG_RESOURCES}`,
    );
  const drift = Number(env.BENCH_CATALOG_DRIFT ?? Math.max(1, Math.round(total * 0.01)));
  if (!Number.isInteger(drift) || drift < 1 || drift > total / 2)
    throw new Error(`BENCH_CATALOG_DRIFT must be an integer in [1, ${total / 2}], got ${env.BENCH_CATALOG_DRIFT}`);
  const headroom = Number(env.BENCH_CATALOG_HEADROOM ?? 0.02);
  if (!Number.isFinite(headroom) || headroom < 0 || headroom > 1)
    throw new Error(`BENCH_CATALOG_HEADROOM must be a fraction in [0, 1], got ${env.BENCH_CATALOG_HEADROOM}`);
  const zooKeeperHeapMb = Number(env.BENCH_CATALOG_ZK_HEAP_MB ?? ZOOKEEPER_HEAP_MB);
  if (!Number.isInteger(zooKeeperHeapMb) || zooKeeperHeapMb < 256)
    throw new Error(`BENCH_CATALOG_ZK_HEAP_MB must be an integer of at least 256, got ${env.BENCH_CATALOG_ZK_HEAP_MB}`);
  const instances = BENCH_INSTANCES;
  const perInstance = Math.ceil(total / instances);
  return {
    total,
    instances,
    perInstance,
    capacity: Math.ceil(perInstance * (1 + headroom)),
    drift,
    zooKeeperHeapMb,
  };
}

// ---------------------------------------------------------------- seeding

/** The instances with their full lists, the index entry of every id, and the kind's capacity. */
async function seedStore(store: NodeStore, layout: Layout, shape: Shape, log: Log): Promise<void> {
  const started = performance.now();
  await store.ensurePath(layout.kind(RESOURCE));
  await store.ensurePath(layout.indexDir(RESOURCE));
  await store.commit([
    {
      op: 'create',
      path: layout.capacity(RESOURCE),
      data: JSON.stringify({ maxInstances: shape.instances, resourcePerInstance: shape.capacity }),
    },
  ]);
  for (let first = 0; first < shape.instances; first += INSTANCES_PER_SEED_MULTI) {
    const ops: WriteOp[] = [];
    for (let n = first; n < Math.min(first + INSTANCES_PER_SEED_MULTI, shape.instances); n++) {
      const ids: string[] = [];
      for (let i = n; i < shape.total; i += shape.instances) ids.push(uuidOf(i));
      const id = String(n);
      ops.push(
        { op: 'create', path: layout.instance(RESOURCE, id), data: encodeInstanceData(ids.length, shape.capacity) },
        { op: 'create', path: layout.tmp(RESOURCE, id), data: '' },
        { op: 'create', path: layout.reload(RESOURCE, id), data: encodeReload(0) },
        { op: 'create', path: layout.resources(RESOURCE, id), data: encodeResources(ids) },
      );
    }
    await store.commit(ops);
  }
  let next = 0;
  let written = 0;
  let reported = 0;
  await Promise.all(
    Array.from({ length: SEED_PARALLEL }, async () => {
      while (next < shape.total) {
        const from = next;
        next = Math.min(shape.total, from + INDEX_OPS_PER_MULTI);
        const ops: WriteOp[] = [];
        for (let i = from; i < next; i++)
          ops.push({ op: 'create', path: layout.index(RESOURCE, uuidOf(i)), data: String(i % shape.instances) });
        await store.commit(ops);
        written += ops.length;
        if (written - reported >= 50_000 || written === shape.total) {
          reported = written;
          log(`  ZooKeeper: ${count(written)}/${count(shape.total)} index entries`);
        }
      }
    }),
  );
  log(`seeded ZooKeeper in ${seconds(performance.now() - started)} s`);
}

/** The table with the seeded ids, then the drift; returns the rows it holds. */
async function seedTable(db: TestDatabase['db'], shape: Shape, log: Log): Promise<number> {
  const started = performance.now();
  await db.query(`CREATE TABLE "Thing" (id uuid PRIMARY KEY)`);
  const [sample] = (await db.query(`SELECT ${UUID_SQL}::text AS id FROM (VALUES ($1::bigint)) AS s(i)`, [123_457]))
    .rows as Array<{ id: string }>;
  if (sample?.id !== uuidOf(123_457))
    throw new Error(`PostgreSQL builds ${sample?.id} where the bench builds ${uuidOf(123_457)}`);
  const step = 100_000;
  for (let from = 0; from < shape.total; from += step) {
    const to = Math.min(shape.total, from + step) - 1;
    await db.query(`INSERT INTO "Thing" (id) SELECT ${UUID_SQL} FROM generate_series($1::bigint, $2::bigint) AS s(i)`, [
      from,
      to,
    ]);
    log(`  PostgreSQL: ${count(to + 1)}/${count(shape.total)} rows`);
  }
  const deleted = await db.query(`DELETE FROM "Thing" WHERE id = ANY($1::uuid[])`, [lostDeletes(shape).map(uuidOf)]);
  const creates = lostCreates(shape);
  const inserted = await db.query(
    `INSERT INTO "Thing" (id) SELECT ${UUID_SQL} FROM generate_series($1::bigint, $2::bigint) AS s(i)`,
    [creates[0], creates.at(-1)],
  );
  if (deleted.rowCount !== shape.drift || inserted.rowCount !== shape.drift)
    throw new Error(`drift: deleted ${deleted.rowCount}, inserted ${inserted.rowCount}, wanted ${shape.drift} each`);
  await db.query('VACUUM ANALYZE "Thing"');
  const rows = Number(((await db.query('SELECT count(*) AS n FROM "Thing"')).rows[0] as { n: string }).n);
  log(
    `seeded PostgreSQL in ${seconds(performance.now() - started)} s: ${count(rows)} rows, ` +
      `${count(shape.drift)} lost deletes, ${count(shape.drift)} lost creates`,
  );
  return rows;
}

// ---------------------------------------------------------------- counting

interface CatalogCounts {
  page: number;
  existing: number;
  existingIds: number;
  ms: number;
  /** From the reset to the answer of the last page: the scan, with the assigns of all but the last page. */
  scanMs: number;
}

function countingReader(inner: CatalogReader): CatalogReader & { counts: CatalogCounts; reset(): void } {
  const counts: CatalogCounts = { page: 0, existing: 0, existingIds: 0, ms: 0, scanMs: 0 };
  let since = performance.now();
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      counts.ms += performance.now() - t0;
    }
  };
  return {
    counts,
    reset: () => {
      Object.assign(counts, { page: 0, existing: 0, existingIds: 0, ms: 0, scanMs: 0 });
      since = performance.now();
    },
    async page(resource, after, limit) {
      counts.page++;
      const ids = await timed(() => inner.page(resource, after, limit));
      counts.scanMs = performance.now() - since;
      return ids;
    },
    existing(resource, ids) {
      counts.existing++;
      counts.existingIds += ids.length;
      return timed(() => inner.existing(resource, ids));
    },
  };
}

interface StoreCounts {
  gets: number;
  getManys: number;
  nodesRead: number;
  bytesRead: number;
  children: number;
  /** children() of the index directory: must stay 0 (500k children). */
  indexListings: number;
  ensurePaths: number;
  /** The creates those send, one per ancestor: each a write request, answered NodeExists where the path is. */
  ensurePathCreates: number;
  /** Commits of the pass's lease: taken, renewed, released. */
  lease: number;
  /** Commits of the pass's result record. */
  result: number;
  /** Commits settling a requested pass. */
  request: number;
  /** Commits of the pass's checkpoint (saved, removed at the end). */
  checkpoints: number;
  /** Every other commit: what healing wrote. */
  healing: number;
  ops: number;
  /** `set` of an instance's resources list: the whole list rewritten. */
  listRewrites: number;
  bytesWritten: number;
  readMs: number;
  commitMs: number;
  touched: Set<string>;
  /** The first paths of each healing commit, for the log. */
  healingPaths: string[];
  /** Commits that lost a compare-and-set (nothing written). */
  conflicts: number;
  /** Commits the store refused otherwise: size and error. */
  failedCommits: Array<{ ops: number; bytes: number; error: string }>;
}

const emptyStoreCounts = (): StoreCounts => ({
  gets: 0,
  getManys: 0,
  nodesRead: 0,
  bytesRead: 0,
  children: 0,
  indexListings: 0,
  ensurePaths: 0,
  ensurePathCreates: 0,
  lease: 0,
  result: 0,
  request: 0,
  checkpoints: 0,
  healing: 0,
  ops: 0,
  listRewrites: 0,
  bytesWritten: 0,
  readMs: 0,
  commitMs: 0,
  touched: new Set(),
  healingPaths: [],
  conflicts: 0,
  failedCommits: [],
});

/** Delegates to a store and counts reads and commits (one commit = one ZooKeeper multi). */
function countingStore(inner: NodeStore, layout: Layout): NodeStore & { counts: StoreCounts; reset(): void } {
  let counts = emptyStoreCounts();
  /** The counter of a commit whose every op is on one of the pass's own nodes, else 'healing'. */
  const kindOf = (ops: readonly WriteOp[]): 'lease' | 'result' | 'request' | 'checkpoints' | 'healing' => {
    const all = (test: (path: string) => boolean): boolean => ops.every((op) => test(op.path));
    if (all((path) => path.startsWith(`${layout.leasesDir()}/`))) return 'lease';
    if (all((path) => path === layout.catalogPass(RESOURCE))) return 'result';
    if (all((path) => path === layout.catalogRequest(RESOURCE))) return 'request';
    if (all((path) => path === layout.catalogCheckpoint(RESOURCE))) return 'checkpoints';
    return 'healing';
  };
  const instancePath = new RegExp(`^${layout.kind(RESOURCE)}/([0-9]+)(/resources|/_reload|/tmp)?$`);
  const sized = (node: VersionedNode | undefined): number => node?.data.length ?? 0;
  const timedRead = async <T>(work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      counts.readMs += performance.now() - t0;
    }
  };
  return {
    get counts() {
      return counts;
    },
    reset: () => {
      counts = emptyStoreCounts();
    },
    get description() {
      return inner.description;
    },
    async get(path) {
      counts.gets++;
      counts.nodesRead++;
      const node = await timedRead(() => inner.get(path));
      counts.bytesRead += sized(node);
      return node;
    },
    async getMany(paths) {
      counts.getManys++;
      counts.nodesRead += paths.length;
      const nodes = await timedRead(() => inner.getMany(paths));
      for (const node of nodes) counts.bytesRead += sized(node);
      return nodes;
    },
    children(path) {
      counts.children++;
      if (path === layout.indexDir(RESOURCE)) counts.indexListings++;
      return timedRead(() => inner.children(path));
    },
    async commit(ops) {
      const t0 = performance.now();
      try {
        await inner.commit(ops);
      } catch (error) {
        // A conflict is the store's answer to a lost compare-and-set, which the use cases expect and settle.
        if (isConflict(error)) counts.conflicts++;
        else {
          const bytes = ops.reduce((sum, op) => sum + ('data' in op ? op.data.length : 0), 0);
          counts.failedCommits.push({ ops: ops.length, bytes, error: (error as Error).message });
        }
        throw error;
      } finally {
        counts.commitMs += performance.now() - t0;
      }
      const kind = kindOf(ops);
      counts[kind]++;
      if (kind === 'healing')
        counts.healingPaths.push(`${ops[0]!.op} ${ops[0]!.path}${ops.length > 1 ? ` (+${ops.length - 1} ops)` : ''}`);
      counts.ops += ops.length;
      for (const op of ops) {
        if (op.op === 'create' || op.op === 'set') counts.bytesWritten += op.data.length;
        const instance = instancePath.exec(op.path);
        if (instance && op.op !== 'check') counts.touched.add(instance[1]!);
        if (op.op === 'set' && op.path.endsWith('/resources')) counts.listRewrites++;
      }
    },
    ensurePath(path) {
      counts.ensurePaths++;
      counts.ensurePathCreates += path.split('/').length - 1;
      return inner.ensurePath(path);
    },
    watch: (path, onChange) => inner.watch(path, onChange),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/** ZooKeeper's heap in use right after a full GC (its live data), or why it cannot be told (jcmd is in the JDK only). */
async function zooKeeperLiveHeap(pid: number): Promise<string> {
  try {
    await execFileAsync('jcmd', [String(pid), 'GC.run']);
    const { stdout } = await execFileAsync('jcmd', [String(pid), 'GC.heap_info']);
    const used = /used (\d+)K/.exec(stdout);
    return used ? `${(Number(used[1]) / 1024).toFixed(0)} MB` : 'n/a';
  } catch {
    return 'n/a (no jcmd)';
  }
}

/** The most memory ZooKeeper's JVM has had resident (Linux's VmHWM). */
function zooKeeperPeakRss(pid: number): string {
  try {
    const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return peak ? `${(Number(peak[1]) / 1024).toFixed(0)} MB` : 'n/a';
  } catch {
    return 'n/a';
  }
}

/** Peak RSS and heap, sampled every 50 ms (and at both ends) while `work` runs. */
async function measured<T>(
  work: () => Promise<T>,
): Promise<{ result?: T; error?: unknown; ms: number; rssBefore: number; peakRss: number; peakHeap: number }> {
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sample = (): void => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
  };
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  const t0 = performance.now();
  try {
    const result = await work();
    return { result, ms: performance.now() - t0, rssBefore: before.rss, peakRss, peakHeap };
  } catch (error) {
    return { error, ms: performance.now() - t0, rssBefore: before.rss, peakRss, peakHeap };
  } finally {
    clearInterval(timer);
    sample();
  }
}

// ---------------------------------------------------------------- the bench

interface PassFigures {
  readonly pass?: CatalogPass;
  readonly error?: string;
  readonly ms: number;
  readonly rssDeltaMb: number;
  readonly peakRssMb: number;
  readonly peakHeapMb: number;
  readonly catalog: CatalogCounts;
  readonly store: StoreCounts;
  readonly verdict: Verdict;
}

let rootCounter = 0;

export async function benchCatalog(log: Log = console.log, shape = shapeFromEnv()): Promise<void> {
  log('');
  log(
    `## One catalog pass at ${count(shape.total)} resources (${shape.instances} instances of ${count(shape.perInstance)}, ` +
      `resourcePerInstance ${count(shape.capacity)}), ${count(shape.drift)} lost deletes + ${count(shape.drift)} lost creates ` +
      `(${((shape.drift / shape.total) * 100).toFixed(1)} % each way); local ZooKeeper (-Xmx${shape.zooKeeperHeapMb}m), ` +
      'local PostgreSQL, "Thing" id uuid PRIMARY KEY',
  );
  // A ZooKeeper of its own: every node lives in its heap, and 500k index entries need more than the tests' server has.
  const zooKeeper = await startZooKeeper({ heapMb: shape.zooKeeperHeapMb });
  try {
    await benchOn(zooKeeper, log, shape);
  } finally {
    await zooKeeper.stop();
  }
}

async function benchOn(zooKeeper: RunningZooKeeper, log: Log, shape: Shape): Promise<void> {
  const { connect } = zooKeeper;
  const base = `/bench-catalog-${process.pid}-${rootCounter++}`;
  const env = { ZK_CONNECT: connect, ZK_ROOT: `${base}/orchestration`, ZK_STATE_ROOT: `${base}/orchestrator` };
  const layout = new Layout(env.ZK_ROOT, env.ZK_STATE_ROOT);
  const zooKeeperHeap: Array<[string, string]> = [];
  const noteZooKeeperHeap = async (when: string): Promise<void> => {
    zooKeeperHeap.push([when, await zooKeeperLiveHeap(zooKeeper.pid)]);
  };

  const postgres = await startPostgres();
  const database = await createTestDatabase(postgres.url, 'bench_catalog');
  const catalog = openPostgresCatalog({
    url: database.url,
    tables: { [RESOURCE]: { table: RESOURCE, idColumn: 'id' } },
    statementTimeoutMs: 30_000,
  });
  const reader = countingReader(catalog);
  try {
    log(`PostgreSQL started in ${seconds(postgres.startupMs)} s`);
    const seeder = await ZooKeeperStore.connect({ connect });
    await seedStore(seeder, layout, shape, log).finally(() => seeder.close());
    await noteZooKeeperHeap('seeded');
    const rows = await seedTable(database.db, shape, log);

    // Each pass in an App of its own, on a session of its own (a cold Lambda): a failed pass leaves nothing behind.
    const runPass = async (n: number): Promise<PassFigures> => {
      reader.reset();
      let store: ReturnType<typeof countingStore>;
      let app: App;
      try {
        store = countingStore(await ZooKeeperStore.connect({ connect }), layout);
        app = await createApp(env, { store, kinds: DEFAULT_KINDS, logger: silentLogger() });
      } catch (error) {
        log(`pass ${n} could not start: ${(error as Error).message}`);
        const none = { ms: 0, rssDeltaMb: 0, peakRssMb: 0, peakHeapMb: 0 };
        const verdict = { healed: false, text: 'not run' };
        return {
          error: (error as Error).message,
          ...none,
          catalog: { ...reader.counts },
          store: emptyStoreCounts(),
          verdict,
        };
      }
      const run = await measured(() => app.orchestrator.catalogPass(RESOURCE, reader, { holder: `bench-${n}` }));
      await app.close().catch(() => undefined);
      if (run.error !== undefined) {
        log(`pass ${n} FAILED after ${seconds(run.ms)} s: ${(run.error as Error).message}`);
        const biggest = Math.max(0, ...store.counts.failedCommits.map((failed) => failed.bytes));
        if (run.error instanceof StoreUnavailableError && biggest > MB)
          log(
            `  a multi of ${mb(biggest)} was refused: ZooKeeper drops the connection of a request above its ` +
              'jute.maxbuffer (1 MB by default; the local server here allows 4 MB)',
          );
        else if (run.error instanceof StoreUnavailableError)
          log(
            '  ZooKeeper stopped answering. At this scale look at its heap first (below): it holds every node and ' +
              'its last 500 transactions, which here carry whole resource lists.',
          );
      }
      if (run.result?.reason) log(`pass ${n} ${run.result.status}: ${run.result.reason}`);
      for (const failed of store.counts.failedCommits)
        log(`  refused commit: ${count(failed.ops)} ops, ${mb(failed.bytes)}: ${failed.error}`);
      const verdict = await verify(connect, layout, shape, rows);
      log(`after pass ${n}: ${verdict.text}`);
      await noteZooKeeperHeap(`after pass ${n}`);
      return {
        ...(run.result ? { pass: run.result } : {}),
        ...(run.error !== undefined ? { error: String((run.error as Error).message ?? run.error) } : {}),
        ms: run.ms,
        rssDeltaMb: (run.peakRss - run.rssBefore) / MB,
        peakRssMb: run.peakRss / MB,
        peakHeapMb: run.peakHeap / MB,
        catalog: { ...reader.counts },
        store: store.counts,
        verdict,
      };
    };
    const first = await runPass(1);
    const second = await runPass(2);

    log('');
    printTable(log, [first, second]);
    log('');
    log(
      `ZooKeeper live heap (after a full GC) of -Xmx${shape.zooKeeperHeapMb}m: ` +
        `${zooKeeperHeap.map(([when, heap]) => `${when} ${heap}`).join(', ')}; peak RSS ${zooKeeperPeakRss(zooKeeper.pid)}`,
    );
    log('');
    printTargets(log, first, second, shape);
    for (const [n, figures] of [first, second].entries())
      if (figures.store.healingPaths.length > 0)
        log(`pass ${n + 1} healing commits: ${grouped(figures.store.healingPaths)}`);
  } finally {
    await catalog.close();
    await database.drop().catch(() => undefined);
    await postgres.stop();
  }
}

/** The store against the table, on a session of its own: listed ids, and the index entries of the drifted ids. */
async function verify(connect: string, layout: Layout, shape: Shape, rows: number): Promise<Verdict> {
  let store: NodeStore | undefined;
  try {
    store = await ZooKeeperStore.connect({ connect });
    return await verifyOn(store, layout, shape, rows);
  } catch (error) {
    return { healed: false, text: `could not be checked: ${(error as Error).message}` };
  } finally {
    await store?.close().catch(() => undefined);
  }
}

interface Verdict {
  readonly healed: boolean;
  readonly text: string;
}

async function verifyOn(store: NodeStore, layout: Layout, shape: Shape, rows: number): Promise<Verdict> {
  const lists = await store.getMany(
    Array.from({ length: shape.instances }, (_, n) => layout.resources(RESOURCE, String(n))),
  );
  const listed = lists.reduce(
    (sum, node) => sum + (node ? (JSON.parse(node.data) as { ids: string[] }).ids.length : 0),
    0,
  );
  const present = async (numbers: number[]): Promise<number> =>
    (await store.getMany(numbers.map((i) => layout.index(RESOURCE, uuidOf(i))))).filter(Boolean).length;
  const deletesIndexed = await present(lostDeletes(shape));
  const createsIndexed = await present(lostCreates(shape));
  const pending = (await store.children(layout.pendingDir(RESOURCE))).length;
  const healed = listed === rows && deletesIndexed === 0 && createsIndexed === shape.drift && pending === 0;
  return {
    healed,
    text:
      `${count(listed)} ids listed for ${count(rows)} rows; lost deletes still indexed ${count(deletesIndexed)}/${count(shape.drift)}, ` +
      `lost creates indexed ${count(createsIndexed)}/${count(shape.drift)}, pending ${count(pending)}: ` +
      (healed ? 'healed' : 'NOT healed'),
  };
}

/** Commits of a pass that are not healing: its own nodes. */
const ownCommits = (store: StoreCounts): number => store.lease + store.result + store.request + store.checkpoints;

function printTable(log: Log, passes: readonly PassFigures[]): void {
  const [first, second] = passes as [PassFigures, PassFigures];
  const rows: Array<[string, (p: PassFigures) => string]> = [
    ['status', (p) => (p.error ? 'failed' : (p.pass?.status ?? '-'))],
    ['scanned', (p) => count(p.pass?.scanned)],
    ['assigned (before)', (p) => count(p.pass?.assigned)],
    ['missing', (p) => count(p.pass?.missing)],
    ['extra', (p) => count(p.pass?.extra)],
    ['healed', (p) => count(p.pass?.healed)],
    ['catalog queries (page / existing)', (p) => `${count(p.catalog.page)} / ${count(p.catalog.existing)}`],
    ['  ids re-checked', (p) => count(p.catalog.existingIds)],
    ['  time in catalog queries s', (p) => seconds(p.catalog.ms)],
    ['  scan done at s', (p) => seconds(p.catalog.scanMs)],
    ['store reads (get+getMany+children)', (p) => count(p.store.gets + p.store.getManys + p.store.children)],
    [
      '  get / getMany / children',
      (p) => `${count(p.store.gets)} / ${count(p.store.getManys)} / ${count(p.store.children)}`,
    ],
    ['  nodes read (MB)', (p) => `${count(p.store.nodesRead)} (${mb(p.store.bytesRead)})`],
    ['  index dir listed', (p) => count(p.store.indexListings)],
    ['  time in reads s', (p) => seconds(p.store.readMs)],
    ['store commits', (p) => count(p.store.healing + ownCommits(p.store))],
    ['  healing', (p) => count(p.store.healing)],
    [
      '  lease / result / request / checkpoint',
      (p) =>
        `${count(p.store.lease)} / ${count(p.store.result)} / ${count(p.store.request)} / ${count(p.store.checkpoints)}`,
    ],
    ['  conflicts (nothing written)', (p) => count(p.store.conflicts)],
    ['  ops written', (p) => count(p.store.ops)],
    ['  list rewrites (MB written)', (p) => `${count(p.store.listRewrites)} (${mb(p.store.bytesWritten)})`],
    ['  instances touched', (p) => count(p.store.touched.size)],
    ['  time in commits s', (p) => seconds(p.store.commitMs)],
    ['ensurePath calls (creates sent)', (p) => `${count(p.store.ensurePaths)} (${count(p.store.ensurePathCreates)})`],
    ['duration s', (p) => seconds(p.ms)],
    ['peak RSS MB (over before)', (p) => `+${p.rssDeltaMb.toFixed(0)} (peak ${p.peakRssMb.toFixed(0)})`],
    ['peak heap MB', (p) => p.peakHeapMb.toFixed(0)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  log(`${''.padEnd(width)}  ${'pass 1 (drift)'.padStart(22)}  ${'pass 2 (no drift)'.padStart(22)}`);
  for (const [label, value] of rows)
    log(`${label.padEnd(width)}  ${value(first).padStart(22)}  ${value(second).padStart(22)}`);
}

function printTargets(log: Log, first: PassFigures, second: PassFigures, shape: Shape): void {
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const slowest = Math.max(first.ms, second.ms) / 1000;
  const biggest = Math.max(first.rssDeltaMb, second.rssDeltaMb);
  const touched = first.store.touched.size;
  const writesOk = !first.error && first.store.healing <= COMMITS_PER_TOUCHED_INSTANCE * Math.max(1, touched);
  const healedOk =
    first.verdict.healed &&
    first.pass?.missing === shape.drift &&
    first.pass.extra === shape.drift &&
    first.pass.healed === 2 * shape.drift;
  const quietOk = !second.error && second.store.healing === 0 && second.store.checkpoints === 0;
  const target = (label: string, ok: boolean, detail: string): void =>
    log(`${label.padEnd(56)} ${verdict(ok)}  ${detail}`);
  target(
    `target: a pass under ${TARGET_SECONDS} s`,
    !first.error && !second.error && slowest < TARGET_SECONDS,
    `${slowest.toFixed(1)} s`,
  );
  target(
    `target: a pass under ${TARGET_RSS_MB} MB (peak RSS over before)`,
    !first.error && !second.error && biggest < TARGET_RSS_MB,
    `+${biggest.toFixed(0)} MB (peak heap ${Math.max(first.peakHeapMb, second.peakHeapMb).toFixed(0)} MB)`,
  );
  target(
    `target: heals all ${count(2 * shape.drift)} (${count(shape.drift)} missing, ${count(shape.drift)} extra)`,
    healedOk,
    `missing ${count(first.pass?.missing)}, extra ${count(first.pass?.extra)}, healed ${count(first.pass?.healed)}; ` +
      (first.verdict.healed ? 'the store matches the table' : 'the store does NOT match the table'),
  );
  target(
    'target: store writes O(instances touched), not O(ids)',
    writesOk,
    `${count(first.store.healing)} healing commits for ${count(touched)} instances touched ` +
      `(≤ ${COMMITS_PER_TOUCHED_INSTANCE} each), ${count(first.store.listRewrites)} list rewrites, ` +
      `${count(first.pass?.healed)} ids healed`,
  );
  target(
    'target: no drift, no writes but the lease and the result',
    quietOk,
    `${count(second.store.healing)} healing, ${count(second.store.checkpoints)} checkpoint commits; ` +
      `${count(second.store.lease)} lease and ${count(second.store.result)} result commits, ` +
      `${count(second.store.ensurePathCreates)} ensurePath creates (existing nodes: NodeExists)`,
  );
}

/** Commits by the shape of their first op (ids and instance numbers elided), most frequent first. */
const grouped = (paths: readonly string[]): string => {
  const shapes = new Map<string, number>();
  for (const path of paths) {
    const shape = path
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
      .replace(/\/[0-9]+(\/|$| )/g, '/<n>$1')
      .replace(/\(\+[0-9]+ ops\)/, '(+ops)');
    shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
  }
  return [...shapes]
    .sort((a, b) => b[1] - a[1])
    .map(([shape, n]) => `${n} × ${shape}`)
    .join('; ');
};

const count = (n: number | undefined): string => (n === undefined ? '-' : n.toLocaleString('en-US'));
const seconds = (ms: number): string => (ms / 1000).toFixed(1);
const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchCatalog();
