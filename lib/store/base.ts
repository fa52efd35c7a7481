/**
 * The rules every NodeStore adapter shares, in one place: paths are checked
 * before any backend sees them, empty input answers without a round trip, a
 * closed store refuses work, child names come out sorted, and a watch fires at
 * most once and never after it was cancelled or the store closed.
 *
 * An adapter extends BaseNodeStore and supplies only the protected hooks that
 * speak to its backend (the shape of Powertools' BasePersistenceLayer). The
 * hooks are called with validated, non-empty input on an open store.
 */
import { assertValidPath, type NodeStore, type VersionedNode, type WriteOp } from './port.js';

export abstract class BaseNodeStore implements NodeStore {
  private isClosed = false;
  private released: Promise<void> = Promise.resolve();
  /** Cancel functions of the watches that have not fired yet. */
  private readonly pendingWatches = new Set<() => void>();

  protected constructor(readonly description: string) {}

  async get(path: string): Promise<VersionedNode | undefined> {
    assertValidPath(path);
    this.refuseWhenClosed();
    return this.readNode(path);
  }

  async getMany(paths: readonly string[]): Promise<Array<VersionedNode | undefined>> {
    for (const path of paths) assertValidPath(path);
    if (paths.length === 0) return [];
    this.refuseWhenClosed();
    return this.readNodes(paths);
  }

  async children(path: string): Promise<string[]> {
    assertValidPath(path);
    this.refuseWhenClosed();
    // Sorted here rather than in the backend (SQLite's byte order, ZooKeeper's none) so every adapter orders names alike.
    return (await this.listChildren(path)).sort();
  }

  async commit(ops: readonly WriteOp[]): Promise<void> {
    // Every path is checked first, so one bad op refuses the whole multi before anything is sent.
    for (const op of ops) assertValidPath(op.path);
    if (ops.length === 0) return;
    this.refuseWhenClosed();
    await this.applyOps(ops);
  }

  async ensurePath(path: string): Promise<void> {
    assertValidPath(path);
    // The root always exists.
    if (path === '/') return;
    this.refuseWhenClosed();
    await this.createPath(path, ancestryOf(path));
  }

  watch(path: string, onChange: () => void): () => void {
    assertValidPath(path);
    this.refuseWhenClosed();
    let pending = true;
    let stopBackend: (() => void) | undefined;
    const settle = (): void => {
      pending = false;
      this.pendingWatches.delete(cancel);
    };
    const cancel = (): void => {
      settle();
      stopBackend?.();
    };
    this.pendingWatches.add(cancel);
    try {
      stopBackend = this.startWatch(path, () => {
        if (!pending) return;
        settle();
        onChange();
      });
    } catch (error) {
      settle();
      throw error;
    }
    return cancel;
  }

  async ping(): Promise<void> {
    this.refuseWhenClosed();
    await this.probe();
  }

  /** Idempotent: a second call waits for the first one's release to finish. */
  async close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      // Closing is not a change of any node: pending watches end without a call.
      for (const cancel of [...this.pendingWatches]) cancel();
      this.released = this.release();
    }
    await this.released;
  }

  protected get closed(): boolean {
    return this.isClosed;
  }

  /** A plain Error, not StoreUnavailableError: using a closed store is the caller's mistake, not an outage to retry. */
  protected closedError(): Error {
    return new Error(`${this.description} is closed`);
  }

  /** The node, or undefined when it does not exist. */
  protected abstract readNode(path: string): Promise<VersionedNode | undefined>;
  /** Several nodes at once, in the order of `paths` (never empty). */
  protected abstract readNodes(paths: readonly string[]): Promise<Array<VersionedNode | undefined>>;
  /** Child names in any order; [] when the node is missing. */
  protected abstract listChildren(path: string): Promise<string[]>;
  /** The whole multi (never empty) atomically; ConflictError or StoreUnavailableError when refused. */
  protected abstract applyOps(ops: readonly WriteOp[]): Promise<void>;
  /** Creates whichever nodes of `ancestry` (from the top down to `path` itself) are missing, with empty data. */
  protected abstract createPath(path: string, ancestry: readonly string[]): Promise<void>;
  /**
   * Arranges one call of `fire` when the node's data or existence changes, and
   * returns what stops it. `fire` may be called more than once or after the
   * stop: the base ignores every call but the first one of a pending watch.
   */
  protected abstract startWatch(path: string, fire: () => void): () => void;
  /** The cheapest round trip the backend has. */
  protected abstract probe(): Promise<void>;
  /** Frees the backend's connections and timers; called once, after every pending watch was cancelled. */
  protected abstract release(): Promise<void>;

  private refuseWhenClosed(): void {
    if (this.isClosed) throw this.closedError();
  }
}

/** "/a/b/c" → ["/a", "/a/b", "/a/b/c"]. */
function ancestryOf(path: string): string[] {
  const segments = path.split('/').slice(1);
  return segments.map((_, index) => `/${segments.slice(0, index + 1).join('/')}`);
}
