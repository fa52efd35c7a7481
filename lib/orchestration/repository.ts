/**
 * The instance repository: the only code that speaks the store's layout for
 * instances and the resource index. It reads instances with the versions a
 * compare-and-set needs, keeps a per-process cache of them, commits the write
 * ops of the legacy layout (built by `writes`, lib/orchestration/instance-writes.ts),
 * and turns a lost race into a targeted re-read.
 *
 * Every write is one atomic multi built from what was read (or cached), so
 * concurrent invocations in many processes never lose or duplicate an
 * assignment: a stale read fails the whole multi with a ConflictError,
 * nothing is written, and the use case re-reads and retries.
 */
import type { Clock } from '../clock.js';
import { byNumericId, INSTANCE_ID, type InstanceState } from '../domain/orchestration.js';
import type { Logger } from '../log.js';
import {
  type ConflictError,
  isConflict,
  isNodeExists,
  type NodeStore,
  removeIfPresent,
  type VersionedNode,
  type WriteOp,
  withRetry,
} from '../store/port.js';
import { ContentionWatch } from './contention.js';
import { STORE_RETRY } from './context.js';
import { InstanceWrites } from './instance-writes.js';
import type { Layout } from './layout.js';
import {
  IndexEntrySchema,
  InstanceNodeSchema,
  parseNode,
  parseValue,
  ReloadNodeSchema,
  ResourcesNodeSchema,
  type CorruptNodeError,
} from './stored.js';

/** An instance as last read, with the versions a compare-and-set needs. */
export interface CachedInstance {
  readonly state: InstanceState;
  readonly versions: { readonly node: number; readonly resources: number; readonly reload: number };
}

export interface IndexEntry {
  readonly instanceId: string;
  readonly version: number;
}

/** An instance's counters without its id list. */
export interface InstanceCounters {
  readonly id: string;
  readonly used: number;
  readonly count: number;
  readonly reloadTimes: number;
}

export interface RepositoryDeps {
  readonly store: NodeStore;
  readonly layout: Layout;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long one conflict keeps this process watching the instances it caches. */
  readonly contendedForMs?: number;
}

const DEFAULT_CONTENDED_MS = 60_000;

export class InstanceRepository {
  readonly layout: Layout;
  /** The write ops of the layout, for the use cases to commit through `commit`. */
  readonly writes: InstanceWrites;
  private readonly store: NodeStore;
  private readonly logger: Logger;
  private readonly cache = new Map<string, Map<string, CachedInstance>>();
  private readonly contention: ContentionWatch;
  private readonly prepared = new Map<string, Promise<void>>();

  constructor(deps: RepositoryDeps) {
    this.store = deps.store;
    this.layout = deps.layout;
    this.writes = new InstanceWrites(deps.layout);
    this.logger = deps.logger;
    this.contention = new ContentionWatch(
      deps.store,
      deps.layout,
      deps.clock,
      deps.contendedForMs ?? DEFAULT_CONTENDED_MS,
    );
  }

  /** Creates the kind's directories once per process. */
  prepare(resource: string): Promise<void> {
    let ready = this.prepared.get(resource);
    if (!ready) {
      const { layout } = this;
      const dirs = [
        layout.kind(resource),
        layout.indexDir(resource),
        layout.heartbeatsDir(resource),
        layout.recordsDir(resource),
      ];
      ready = Promise.all(dirs.map((path) => this.store.ensurePath(path))).then(() => undefined);
      ready.catch(() => this.prepared.delete(resource));
      this.prepared.set(resource, ready);
    }
    return ready;
  }

  // ---------------------------------------------------------------- reads

  /** The kind's instance ids without their lists: one cheap read at any scale. */
  async instanceIds(resource: string): Promise<string[]> {
    return (await this.store.children(this.layout.kind(resource)))
      .filter((id) => INSTANCE_ID.test(id))
      .sort(byNumericId);
  }

  /** Every instance of a kind, fresh from the store; refreshes the cache. */
  async read(resource: string): Promise<CachedInstance[]> {
    const fresh = new Map<string, CachedInstance>();
    for (const [id, cached] of await this.readInstances(resource, await this.instanceIds(resource)))
      if (cached) fresh.set(id, cached);
    this.cache.set(resource, fresh);
    return [...fresh.values()];
  }

  /** The cached instances of a kind, read once when nothing is cached. */
  async cached(resource: string): Promise<ReadonlyMap<string, CachedInstance>> {
    if (!this.cache.has(resource)) await this.read(resource);
    return this.cache.get(resource)!;
  }

  /** One instance: from the cache unless it is missing or known stale. */
  async instance(resource: string, id: string): Promise<CachedInstance | undefined> {
    const cached = this.cache.get(resource)?.get(id);
    if (cached && !this.isStale(resource, id)) return cached;
    return this.refreshInstance(resource, id);
  }

  /** Re-reads one instance and updates the cache. */
  async refreshInstance(resource: string, id: string): Promise<CachedInstance | undefined> {
    return (await this.refreshInstances(resource, [id])).get(id);
  }

  /** Re-reads instances in one store read (one round trip, not one per instance) and updates the cache. */
  async refreshInstances(resource: string, ids: readonly string[]): Promise<Map<string, CachedInstance | undefined>> {
    const refreshed = await this.readInstances(resource, ids);
    const map = this.cache.get(resource);
    if (map) {
      for (const [id, cached] of refreshed) {
        if (cached) map.set(id, cached);
        else map.delete(id);
      }
    }
    return refreshed;
  }

  /** The instances' three nodes each, in one store read; each one read whole is fresh for the contention watch. */
  private async readInstances(
    resource: string,
    ids: readonly string[],
  ): Promise<Map<string, CachedInstance | undefined>> {
    const nodes = await this.store.getMany(ids.flatMap((id) => this.instancePaths(resource, id)));
    const read = new Map<string, CachedInstance | undefined>();
    ids.forEach((id, i) => {
      const cached = this.toCached(id, nodes[3 * i], nodes[3 * i + 1], nodes[3 * i + 2]);
      if (cached) this.contention.fresh(resource, id);
      read.set(id, cached);
    });
    return read;
  }

  isStale(resource: string, id: string): boolean {
    return this.contention.isStale(resource, id);
  }

  /** Forgets a kind's cache: the next read goes to the store. */
  invalidate(resource: string, id?: string): void {
    if (id === undefined) this.cache.delete(resource);
    else this.cache.get(resource)?.delete(id);
  }

  /**
   * Counters of every instance without their id lists: the dashboard polls
   * this, and at 500k resources the lists are megabytes it does not show.
   */
  async counters(resource: string): Promise<InstanceCounters[]> {
    const ids = await this.instanceIds(resource);
    const paths = ids.flatMap((id) => [this.layout.instance(resource, id), this.layout.reload(resource, id)]);
    const nodes = await this.store.getMany(paths);
    return ids.flatMap((id, i) => {
      const node = nodes[2 * i];
      const reload = nodes[2 * i + 1];
      if (!node || !reload) return [];
      const { used, count } = parseNode(InstanceNodeSchema, node);
      return [{ id, used, count, reloadTimes: parseNode(ReloadNodeSchema, reload).times }];
    });
  }

  /** The index entries of `ids` that exist: owner and version. */
  async indexEntries(resource: string, ids: readonly string[]): Promise<Map<string, IndexEntry>> {
    const nodes = await this.store.getMany(ids.map((id) => this.layout.index(resource, id)));
    const entries = new Map<string, IndexEntry>();
    ids.forEach((id, i) => {
      const node = nodes[i];
      if (node)
        entries.set(id, { instanceId: parseValue(IndexEntrySchema, node.data, node.path), version: node.version });
    });
    return entries;
  }

  async owners(resource: string, ids: readonly string[]): Promise<Map<string, string>> {
    const entries = await this.indexEntries(resource, ids);
    return new Map([...entries].map(([id, entry]) => [id, entry.instanceId]));
  }

  async owner(resource: string, id: string): Promise<string | undefined> {
    return (await this.owners(resource, [id])).get(id);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Commits one multi. On success the cache takes exactly what the store now
   * has for each written instance; on a conflict the stale part of the cache is
   * re-read and the error rethrown for the caller's retry.
   */
  async commit(
    resource: string,
    ops: readonly WriteOp[],
    written: ReadonlyArray<{ before: CachedInstance | undefined; after: InstanceState }> = [],
  ): Promise<void> {
    if (ops.length === 0) return;
    try {
      await this.store.commit(ops);
    } catch (error) {
      // An index entry that exists means an id is placed already: the caller settles that, no instance is stale.
      if (isConflict(error) && !this.isIndexConflict(resource, error)) await this.afterConflict(resource, error);
      throw error;
    }
    for (const { before, after } of written) this.remember(resource, after, before);
  }

  /**
   * After a conflict: re-read just the instance that failed when the store
   * says which, else forget the kind's cache.
   */
  async afterConflict(resource: string, error: ConflictError): Promise<void> {
    this.contention.conflicted(resource, this.cache.get(resource)?.keys() ?? []);
    const match = error.path?.match(/^(.*)\/([0-9]+)(?:\/(?:resources|_reload|tmp))?$/);
    if (match && match[1] === this.layout.kind(resource) && error.reason === 'BadVersion')
      await this.refreshInstance(resource, match[2]!);
    else this.cache.delete(resource);
  }

  /** A conflict on an index entry: the id is placed already (a redelivery or a racing writer). */
  isIndexConflict(resource: string, error: ConflictError): boolean {
    return error.reason === 'NodeExists' && (error.path?.startsWith(`${this.layout.indexDir(resource)}/`) ?? false);
  }

  /** Removes nodes that may already be gone (state we keep about an instance, pending entries). */
  removeIfPresent(paths: readonly string[]): Promise<void> {
    return removeIfPresent(this.store, paths);
  }

  /** Creates a node unless it exists; true when this call created it. */
  async createIfAbsent(path: string, data: string): Promise<boolean> {
    try {
      await this.store.commit([{ op: 'create', path, data }]);
      return true;
    } catch (error) {
      if (isNodeExists(error)) return false;
      throw error;
    }
  }

  /** Writes a small state node whatever it held before (last writer wins), retrying a racing create or set. */
  async put(path: string, data: string): Promise<void> {
    await withRetry(async () => {
      const node = await this.store.get(path);
      await this.store.commit([node ? { op: 'set', path, data, version: node.version } : { op: 'create', path, data }]);
    }, STORE_RETRY);
  }

  // ---------------------------------------------------------------- internals

  private instancePaths(resource: string, id: string): string[] {
    return [this.layout.instance(resource, id), this.layout.resources(resource, id), this.layout.reload(resource, id)];
  }

  /** Parses an instance's three nodes; undefined while any is missing (being created or removed). */
  private toCached(
    id: string,
    node?: VersionedNode,
    resources?: VersionedNode,
    reload?: VersionedNode,
  ): CachedInstance | undefined {
    if (!node || !resources || !reload) return undefined;
    try {
      const { count } = parseNode(InstanceNodeSchema, node);
      const { ids } = parseNode(ResourcesNodeSchema, resources);
      const { times } = parseNode(ReloadNodeSchema, reload);
      return {
        state: { id, used: ids.length, count, ids, reloadTimes: times },
        versions: { node: node.version, resources: resources.version, reload: reload.version },
      };
    } catch (error) {
      this.logger.error(
        { instanceId: id, path: (error as CorruptNodeError).path, err: error },
        'corrupt instance node',
      );
      throw error;
    }
  }

  /**
   * Our own commit succeeded on top of `before`: cache exactly what the store
   * now has (its watch fired for our write; re-arm it). If the cache moved on
   * meanwhile (another call of this process refreshed or wrote the instance),
   * our view is not the latest: mark it stale so the next use re-reads.
   */
  private remember(resource: string, state: InstanceState, before: CachedInstance | undefined): void {
    const map = this.cache.get(resource);
    if (!map) return;
    if (map.get(state.id) !== before) {
      this.contention.markStale(resource, state.id);
      return;
    }
    this.contention.fresh(resource, state.id);
    map.set(state.id, {
      state,
      versions: before
        ? {
            node: before.versions.node + 1,
            resources: before.versions.resources + 1,
            reload: before.versions.reload + 1,
          }
        : { node: 0, resources: 0, reload: 0 },
    });
  }
}
