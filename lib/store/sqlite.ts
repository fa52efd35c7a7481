/**
 * The store port over an embedded SQLite file: the default when no ZooKeeper is
 * configured. It reproduces ZooKeeper's multi semantics (ops applied in order,
 * all or nothing, versioned compare-and-set) in one write transaction, and is
 * safe for several processes sharing the data directory (WAL, BEGIN IMMEDIATE).
 */
import { systemClock } from '../clock.js';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { BaseNodeStore } from './base.js';
import {
  ANY_VERSION,
  ConflictError,
  StoreUnavailableError,
  parentOf,
  type VersionedNode,
  type WriteOp,
} from './port.js';

export interface SqliteStoreOptions {
  /** Directory of `orchestration.db`; created when missing. */
  readonly dataDir: string;
  /** How often `watch` looks for a change. Default 250. */
  readonly pollIntervalMs?: number;
  /** How long a write waits for another process's write lock before failing. Default 5000. */
  readonly busyTimeoutMs?: number;
}

export const SQLITE_FILE_NAME = 'orchestration.db';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS nodes (
    path    TEXT PRIMARY KEY,
    parent  TEXT NOT NULL,
    data    TEXT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS nodes_parent ON nodes (parent);
`;

/** SQLite result codes that mean "the file cannot be used right now", not "your request is wrong". */
const UNAVAILABLE_CODE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|READONLY|NOMEM)/;

interface Row {
  readonly data: string;
  readonly version: number;
}

interface PolledWatch {
  readonly path: string;
  readonly version: number | undefined;
  readonly data: string | undefined;
  readonly fire: () => void;
}

export class SqliteStore extends BaseNodeStore {
  private readonly db: Database.Database;
  private readonly pollIntervalMs: number;
  private readonly watches = new Set<PolledWatch>();
  private poller: ReturnType<typeof setInterval> | undefined;
  private lastStamp = '';

  private readonly selectNode: Database.Statement<[string], Row>;
  private readonly selectChildren: Database.Statement<[string], string>;
  private readonly selectAnyChild: Database.Statement<[string], number>;
  private readonly insertNode: Database.Statement<[string, string, string]>;
  private readonly insertNodeIfMissing: Database.Statement<[string, string]>;
  private readonly updateNode: Database.Statement<[string, string]>;
  private readonly deleteNode: Database.Statement<[string]>;
  private readonly changeStamp: () => string;
  private readonly applyAll: Database.Transaction<(ops: readonly WriteOp[]) => void>;
  private readonly insertAncestry: Database.Transaction<(paths: readonly string[]) => void>;
  private readonly readSnapshot: Database.Transaction<(paths: readonly string[]) => Array<VersionedNode | undefined>>;

  private constructor(file: string, options: SqliteStoreOptions) {
    super(`sqlite ${file}`);
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.db = new Database(file, { timeout: busyTimeoutMs });
    try {
      initialise(this.db, busyTimeoutMs);
    } catch (error) {
      this.db.close();
      throw mapError(error);
    }
    const db = this.db;
    this.selectNode = db.prepare<[string], Row>('SELECT data, version FROM nodes WHERE path = ?');
    this.selectChildren = db.prepare<[string], string>('SELECT path FROM nodes WHERE parent = ?').pluck();
    this.selectAnyChild = db.prepare<[string], number>('SELECT 1 FROM nodes WHERE parent = ? LIMIT 1').pluck();
    this.insertNode = db.prepare('INSERT INTO nodes (path, parent, data, version) VALUES (?, ?, ?, 0)');
    this.insertNodeIfMissing = db.prepare(
      "INSERT OR IGNORE INTO nodes (path, parent, data, version) VALUES (?, ?, '', 0)",
    );
    this.updateNode = db.prepare('UPDATE nodes SET data = ?, version = version + 1 WHERE path = ?');
    this.deleteNode = db.prepare('DELETE FROM nodes WHERE path = ?');
    // data_version moves on other connections' commits, total_changes on ours: together, "anything changed?".
    const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    const totalChanges = db.prepare<[], number>('SELECT total_changes()').pluck();
    this.changeStamp = () => `${dataVersion.get()}:${totalChanges.get()}`;

    this.applyAll = db.transaction((ops: readonly WriteOp[]) => {
      for (const op of ops) this.apply(op);
    });
    this.insertAncestry = db.transaction((paths: readonly string[]) => {
      for (const path of paths) this.insertNodeIfMissing.run(path, parentOf(path));
    });
    // One read transaction, so the nodes come from one snapshot.
    this.readSnapshot = db.transaction((paths: readonly string[]) => paths.map((path) => this.read(path)));
  }

  /** Opens (creating when needed) `<dataDir>/orchestration.db`. */
  static open(options: SqliteStoreOptions): SqliteStore {
    const dataDir = resolve(options.dataDir);
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new StoreUnavailableError(`cannot create the data directory ${dataDir}`, { cause: error });
    }
    return new SqliteStore(join(dataDir, SQLITE_FILE_NAME), options);
  }

  protected async readNode(path: string): Promise<VersionedNode | undefined> {
    return this.mapErrors(() => this.read(path));
  }

  protected async readNodes(paths: readonly string[]): Promise<Array<VersionedNode | undefined>> {
    return this.mapErrors(() => this.readSnapshot.deferred(paths));
  }

  protected async listChildren(path: string): Promise<string[]> {
    const prefix = path === '/' ? 1 : path.length + 1;
    return this.mapErrors(() => this.selectChildren.all(path).map((child) => child.slice(prefix)));
  }

  protected async applyOps(ops: readonly WriteOp[]): Promise<void> {
    // IMMEDIATE takes the write lock before the first read, so another process cannot change
    // what we checked before we write; a ConflictError thrown inside rolls everything back.
    this.mapErrors(() => this.applyAll.immediate(ops));
  }

  protected async createPath(path: string, ancestry: readonly string[]): Promise<void> {
    this.mapErrors(() => {
      // The common case (it exists) takes no write lock.
      if (this.selectNode.get(path)) return;
      this.insertAncestry.immediate(ancestry);
    });
  }

  protected startWatch(path: string, fire: () => void): () => void {
    // The baseline is read now, synchronously: a change committed after this call cannot be missed.
    const row = this.mapErrors(() => this.read(path));
    const watch: PolledWatch = { path, version: row?.version, data: row?.data, fire };
    this.watches.add(watch);
    if (!this.poller) {
      this.lastStamp = '';
      this.poller = setInterval(() => this.poll(), this.pollIntervalMs);
      // A pending watch must not keep a finished process alive.
      this.poller.unref();
    }
    return () => this.forget(watch);
  }

  protected async probe(): Promise<void> {
    this.mapErrors(() => this.selectAnyChild.get('/'));
  }

  /** The base has cancelled every watch by now, which stopped the poller. */
  protected async release(): Promise<void> {
    this.db.close();
  }

  private read(path: string): VersionedNode | undefined {
    // ZooKeeper's root always exists; here it is implied by its children.
    if (path === '/') return { path, data: '', version: 0 };
    const row = this.selectNode.get(path);
    return row ? { path, data: row.data, version: row.version } : undefined;
  }

  /** One op of a multi, with ZooKeeper's checks in ZooKeeper's order. */
  private apply(op: WriteOp): void {
    const existing = this.read(op.path);
    switch (op.op) {
      case 'create': {
        const parent = parentOf(op.path);
        if (!this.read(parent))
          throw new ConflictError('NoNode', op.path, `NoNode: parent of ${op.path} does not exist`);
        if (existing) throw new ConflictError('NodeExists', op.path);
        this.insertNode.run(op.path, parent, op.data);
        return;
      }
      case 'set':
        checkVersion(op.path, existing, op.version);
        this.updateNode.run(op.data, op.path);
        return;
      case 'remove':
        checkVersion(op.path, existing, op.version);
        if (this.selectAnyChild.get(op.path) !== undefined) throw new ConflictError('NotEmpty', op.path);
        this.deleteNode.run(op.path);
        return;
      case 'check':
        checkVersion(op.path, existing, op.version);
        return;
    }
  }

  private poll(): void {
    if (this.closed || this.watches.size === 0) return;
    const due: PolledWatch[] = [];
    try {
      const stamp = this.changeStamp();
      if (stamp === this.lastStamp) return;
      this.lastStamp = stamp;
      for (const watch of this.watches) {
        const row = this.read(watch.path);
        // Data is compared too, so a remove and re-create between two polls is still seen.
        if (row?.version !== watch.version || row?.data !== watch.data) due.push(watch);
      }
    } catch {
      // A locked or busy file now is no change; look again at the next tick.
      this.lastStamp = '';
      return;
    }
    for (const watch of due) {
      this.forget(watch);
      // Each callback on its own, so one that throws does not starve the others.
      queueMicrotask(watch.fire);
    }
  }

  private forget(watch: PolledWatch): void {
    this.watches.delete(watch);
    if (this.watches.size === 0 && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
  }

  private mapErrors<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw mapError(error);
    }
  }
}

function checkVersion(
  path: string,
  existing: VersionedNode | undefined,
  expected: number,
): asserts existing is VersionedNode {
  if (!existing) throw new ConflictError('NoNode', path);
  if (expected !== ANY_VERSION && expected !== existing.version) {
    throw new ConflictError(
      'BadVersion',
      path,
      `BadVersion at ${path}: expected ${expected}, found ${existing.version}`,
    );
  }
}

/**
 * Sets up the file. Several processes may run this at once on a new file:
 * every statement is idempotent, and a lock held by another opener is waited
 * for (busy timeout) and, for the journal switch, retried until the deadline.
 */
function initialise(db: Database.Database, busyTimeoutMs: number): void {
  const deadline = systemClock() + busyTimeoutMs;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      break;
    } catch (error) {
      if (!isBusy(error) || systemClock() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  // WAL with NORMAL sync never corrupts the file; a power cut may lose the last commits only.
  db.pragma('synchronous = NORMAL');
  db.transaction(() => db.exec(SCHEMA)).immediate();
}

function isBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && /^SQLITE_(BUSY|LOCKED)/.test(error.code);
}

function mapError(error: unknown): unknown {
  if (error instanceof Database.SqliteError && UNAVAILABLE_CODE.test(error.code)) {
    return new StoreUnavailableError(`SQLite store unavailable: ${error.message} (${error.code})`, { cause: error });
  }
  return error;
}
