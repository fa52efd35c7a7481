import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../lib/store/open.js';
import { StoreUnavailableError } from '../../lib/store/port.js';
import { SQLITE_FILE_NAME, SqliteStore } from '../../lib/store/sqlite.js';
import { describeStoreContract } from './store.contract.js';

const WORKER = fileURLToPath(new URL('../support/sqlite-counter-worker.ts', import.meta.url));

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iota-store-contract-'));
  // A short poll keeps the watch tests fast; the default (250 ms) is for production.
  const store = SqliteStore.open({ dataDir: dir, pollIntervalMs: 20 });
  return {
    store,
    root: '/iota/orchestration',
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iota-sqlite-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the data directory and keeps what was committed across reopening', async () => {
    // Prepare
    const dataDir = join(dir, 'nested', 'data');
    const first = SqliteStore.open({ dataDir });
    await first.ensurePath('/iota/orchestration/Thing');
    await first.commit([{ op: 'create', path: '/iota/orchestration/Thing/0', data: '{"used":0,"count":10}' }]);
    await first.close();
    // Act
    const second = SqliteStore.open({ dataDir });
    const node = await second.get('/iota/orchestration/Thing/0');
    await second.close();
    // Assess
    expect(existsSync(join(dataDir, SQLITE_FILE_NAME))).toBe(true);
    expect(node).toEqual({ path: '/iota/orchestration/Thing/0', data: '{"used":0,"count":10}', version: 0 });
  });

  it('uses WAL journaling so readers never block the writer of another process', async () => {
    const store = SqliteStore.open({ dataDir: dir });
    await store.close();
    const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it("a watch sees another connection's commit to the same file", async () => {
    // Prepare
    const watcher = SqliteStore.open({ dataDir: dir, pollIntervalMs: 20 });
    const writer = SqliteStore.open({ dataDir: dir });
    await writer.ensurePath('/iota/_reload');
    let calls = 0;
    const fired = new Promise<void>((resolve) =>
      watcher.watch('/iota/_reload', () => {
        calls += 1;
        resolve();
      }),
    );
    // Act
    await writer.commit([{ op: 'set', path: '/iota/_reload', data: '{"times":1}', version: 0 }]);
    await fired;
    // Assess
    expect(calls).toBe(1);
    await watcher.close();
    await writer.close();
  });

  it('a write that waits past the busy timeout for another writer rejects with StoreUnavailableError', async () => {
    // Prepare
    const store = SqliteStore.open({ dataDir: dir, busyTimeoutMs: 100 });
    await store.ensurePath('/iota');
    const other = new Database(join(dir, SQLITE_FILE_NAME));
    other.exec('BEGIN IMMEDIATE');
    try {
      // Act: how long the rejection takes is a figure of `npm run bench -- store-faults`, not asserted here.
      const error = await store.commit([{ op: 'set', path: '/iota', data: 'x', version: 0 }]).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      // Assess
      expect(error).toBeInstanceOf(StoreUnavailableError);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.get('/iota')).toEqual({ path: '/iota', data: '', version: 0 });
    await store.close();
  });

  it('four processes incrementing one counter with compare-and-set lose no update', { timeout: 120_000 }, async () => {
    // Prepare: the workers create the file and schema themselves, all at once.
    const workers = 4;
    const increments = 250;
    const path = '/iota/orchestrator/counter';
    const children = Array.from({ length: workers }, () =>
      spawn(process.execPath, ['--import', 'tsx', WORKER, dir, path, String(increments)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    const outputs = children.map((child) => {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const ready = new Promise<void>((resolve) => {
        const onData = (): void => {
          if (stdout.includes('ready\n')) {
            child.stdout.off('data', onData);
            resolve();
          }
        };
        child.stdout.on('data', onData);
      });
      const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        child.once('exit', (code) => resolve({ code, stdout, stderr })),
      );
      return { ready, exit };
    });
    await Promise.race([
      Promise.all(outputs.map((output) => output.ready)),
      Promise.all(outputs.map((output) => output.exit)),
    ]);
    // Act: release them together so they really contend.
    for (const child of children) child.stdin.end('go\n');
    const results = await Promise.all(outputs.map((output) => output.exit));
    // Assess
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
    const store = SqliteStore.open({ dataDir: dir });
    const counter = await store.get(path);
    await store.close();
    expect(counter).toEqual({ path, data: String(workers * increments), version: workers * increments });
    const conflicts = results.map(
      (result) =>
        (JSON.parse(result.stdout.split('\n').filter(Boolean).at(-1) ?? '{}') as { conflicts?: number }).conflicts ?? 0,
    );
    // Contention is what makes the count meaningful: without it, one process at a time proves nothing.
    expect(conflicts.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
  });

  it('openStore without ZK_CONNECT opens SQLite in ORCH_DATA_DIR', async () => {
    // Act
    const store = await openStore({ ZK_CONNECT: '', ORCH_DATA_DIR: join(dir, 'orch') });
    // Assess
    expect(store.description).toBe(`sqlite ${join(dir, 'orch', SQLITE_FILE_NAME)}`);
    expect(existsSync(join(dir, 'orch', SQLITE_FILE_NAME))).toBe(true);
    await store.close();
  });
});
