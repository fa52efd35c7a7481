/**
 * How long the stores take to give up when the backend cannot serve, with the
 * settings the store tests use (the tests check WHAT happens, a
 * StoreUnavailableError; the time it takes is a figure, printed here):
 * - SQLite: a write that waits for another connection's write lock, with a
 *   100 ms busy timeout;
 * - ZooKeeper, unreachable server: connect to a port nobody listens on, with a
 *   500 ms connect timeout and a 2 s session timeout;
 * - ZooKeeper, silent server: a read through a TCP relay that stops forwarding
 *   (a connection a NAT forgot), with 500 ms connect and operation timeouts:
 *   one timed-out request, then one failed connect attempt.
 *
 * Run alone: `npx tsx bench/store-faults.ts` (starts its own ZooKeeper).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../lib/store/port.js';
import { SQLITE_FILE_NAME, SqliteStore } from '../lib/store/sqlite.js';
import { ZooKeeperStore } from '../lib/store/zookeeper.js';
import { startRelay } from '../test/support/tcp-relay.js';
import { freePort, startZooKeeper } from '../test/support/zookeeper-server.js';

type Log = (line: string) => void;

const SAMPLES = Number(process.env.BENCH_FAULT_SAMPLES ?? 5);
const LABEL_WIDTH = 62;

interface Sample {
  readonly ms: number;
  /** The failure, or undefined when the operation succeeded. */
  readonly error: unknown;
}

/** Time until `work` settles, and its failure if it failed. */
async function timeFailure(work: () => Promise<unknown>): Promise<Sample> {
  const started = performance.now();
  const error = await work().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return { ms: performance.now() - started, error };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function report(log: Log, label: string, samples: readonly Sample[]): void {
  const ms = samples.map((sample) => sample.ms);
  const unexpected = samples.filter((sample) => !(sample.error instanceof StoreUnavailableError));
  const spread = `min ${Math.min(...ms).toFixed(0)} ms  median ${median(ms).toFixed(0)} ms  max ${Math.max(...ms).toFixed(0)} ms  (${samples.length} samples)`;
  log(`${label.padEnd(LABEL_WIDTH)} ${spread}`);
  for (const sample of unexpected) {
    log(`  unexpected outcome: ${sample.error === undefined ? 'it succeeded' : String(sample.error)}`);
  }
}

/** A write held up by another connection's `BEGIN IMMEDIATE` past the busy timeout. */
async function sqliteBusyTimeout(): Promise<Sample[]> {
  const dir = mkdtempSync(join(tmpdir(), 'iota-bench-faults-'));
  const store = SqliteStore.open({ dataDir: dir, busyTimeoutMs: 100 });
  const other = new Database(join(dir, SQLITE_FILE_NAME));
  try {
    await store.ensurePath('/iota');
    const samples: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      other.exec('BEGIN IMMEDIATE');
      try {
        samples.push(await timeFailure(() => store.commit([{ op: 'set', path: '/iota', data: 'x', version: 0 }])));
      } finally {
        other.exec('ROLLBACK');
      }
    }
    return samples;
  } finally {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Connecting to a loopback port nobody listens on. */
async function zooKeeperUnreachable(): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const port = await freePort();
    samples.push(
      await timeFailure(async () => {
        const store = await ZooKeeperStore.connect({
          connect: `127.0.0.1:${port}`,
          connectTimeoutMs: 500,
          sessionTimeoutMs: 2000,
        });
        await store.close();
      }),
    );
  }
  return samples;
}

/** A read through a relay that went silent; the store must answer again once the relay forwards again. */
async function zooKeeperSilent(zooKeeperPort: number): Promise<{ failures: Sample[]; recoveries: number[] }> {
  const relay = await startRelay(zooKeeperPort);
  const store = await ZooKeeperStore.connect({
    connect: `127.0.0.1:${relay.port}`,
    connectTimeoutMs: 500,
    operationTimeoutMs: 500,
  });
  const root = `/bench-faults-${process.pid}/iota`;
  const failures: Sample[] = [];
  const recoveries: number[] = [];
  try {
    await store.ensurePath(root);
    for (let i = 0; i < SAMPLES; i++) {
      relay.silence();
      failures.push(await timeFailure(() => store.get(root)));
      relay.restore();
      const started = performance.now();
      await store.get(root);
      recoveries.push(performance.now() - started);
    }
    return { failures, recoveries };
  } finally {
    await store.close();
    await relay.close();
  }
}

export async function benchStoreFaults(log: Log): Promise<void> {
  report(log, 'sqlite, write past a 100 ms busy timeout: rejected after', await sqliteBusyTimeout());
  report(log, 'zookeeper, unreachable (500 ms connect timeout): failed after', await zooKeeperUnreachable());
  const zk = await startZooKeeper();
  try {
    const { failures, recoveries } = await zooKeeperSilent(zk.port);
    report(log, 'zookeeper, silent (500 ms timeouts): read failed after', failures);
    log(
      `${'  then, once it answers again, the next read took'.padEnd(LABEL_WIDTH)} median ${median(recoveries).toFixed(0)} ms`,
    );
  } finally {
    await zk.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchStoreFaults((line) => console.log(line));
}
