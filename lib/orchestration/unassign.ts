/**
 * Unassign and reload: the cm/notify `d`/`bd` and `u`/`bu` paths.
 *
 * Unassign takes ids off their owners' lists and drops their index entries in
 * one multi per batch; reload bumps `_reload.times` once on each owner so its
 * worker re-reads the resources that changed.
 */
import { byNumericId } from '../domain/orchestration.js';
import { withRemoved } from '../domain/placement.js';
import { ConflictError, withRetry, type WriteOp } from '../store/port.js';
import type { CapacityUseCase } from './capacity.js';
import { chunks, STORE_RETRY, unique, type Kinds, type OrchestrationContext } from './context.js';
import { encodeReload } from './layout.js';
import { IDS_PER_MULTI, listBytes, MULTI_BUDGET_BYTES } from './placement.js';
import type { CachedInstance } from './repository.js';
import { parseNode, ReloadNodeSchema } from './stored.js';
import type { InstanceState, Placement, ReloadResult, UnassignResult } from './types.js';

export class UnassignUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly capacity: CapacityUseCase,
  ) {}

  async unassign(resource: string, ids: readonly string[]): Promise<UnassignResult> {
    this.kinds.validated(resource, ids);
    const { repository } = this.context;
    await repository.prepare(resource);
    const removed: Placement[] = [];
    const notAssigned: string[] = [];
    for (const batch of chunks(await this.byOwner(resource, unique(ids)), IDS_PER_MULTI)) {
      // Ids this batch still has to remove: a retry after some multis went through does not redo them.
      let waiting = batch;
      await withRetry(async () => {
        const index = await repository.indexEntries(resource, waiting);
        const groups = new Map<string, string[]>();
        for (const id of waiting.filter((id) => index.has(id))) {
          const owner = index.get(id)!.instanceId;
          groups.set(owner, [...(groups.get(owner) ?? []), id]);
        }
        // Each touched list is rewritten whole: as many multis as keep each under ZooKeeper's request limit.
        for (const pack of packByListBytes(await this.touched(resource, groups))) {
          const ops: WriteOp[] = [];
          for (const { before, after, gone } of pack) {
            ops.push(...repository.writes.updateOps(resource, before, after));
            for (const id of gone) ops.push(repository.writes.indexRemoveOp(resource, id, index.get(id)!.version));
          }
          await repository.commit(resource, ops, pack);
          const done = new Set<string>();
          for (const { before, gone } of pack)
            for (const id of gone) {
              removed.push({ id, instanceId: before.state.id });
              done.add(id);
            }
          waiting = waiting.filter((id) => !done.has(id));
        }
        notAssigned.push(...waiting.filter((id) => !index.has(id)));
        waiting = [];
      }, STORE_RETRY);
    }
    // A resource deleted while it waited for room is done waiting.
    if (notAssigned.length > 0) await this.capacity.settle(resource, notAssigned);
    this.context.logger.debug({ resource, removed: removed.length }, 'unassigned');
    return { removed, notAssigned };
  }

  /**
   * The ids ordered owner by owner (unowned last), so that each batch of IDS_PER_MULTI touches few lists and each
   * list is rewritten about once: in the order given, a `bd` of 10,000 ids over 100 instances would rewrite every
   * list in each of its 20 batches. Each batch reads the index again for the versions it commits against.
   */
  private async byOwner(resource: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length <= IDS_PER_MULTI) return [...ids];
    const owners = new Map<string, string[]>();
    for (const part of chunks(ids, IDS_PER_MULTI * 10)) {
      const index = await this.context.repository.owners(resource, part);
      for (const id of part) {
        const owner = index.get(id) ?? '';
        const group = owners.get(owner);
        if (group) group.push(id);
        else owners.set(owner, [id]);
      }
    }
    const unowned = owners.get('') ?? [];
    owners.delete('');
    return [...[...owners.values()].flat(), ...unowned];
  }

  /** The touched instances as they are before and after losing their ids; the index is the truth over the cache. */
  private async touched(resource: string, groups: ReadonlyMap<string, string[]>): Promise<Touched[]> {
    const { repository } = this.context;
    const touched: Touched[] = [];
    for (const [instanceId, gone] of groups) {
      let before = await repository.instance(resource, instanceId);
      // A cached list that lacks one of the ids is older than the index.
      if (before && !holdsAll(before, gone)) before = await repository.refreshInstance(resource, instanceId);
      if (!before)
        throw new ConflictError(
          'NoNode',
          repository.layout.instance(resource, instanceId),
          `instance ${instanceId} vanished`,
        );
      touched.push({ before, after: withRemoved(before.state, gone), gone });
    }
    return touched;
  }

  /** Bumps `_reload.times` once on every instance owning one of the ids, so its worker re-reads them. */
  async reload(resource: string, ids: readonly string[]): Promise<ReloadResult> {
    this.kinds.validated(resource, ids);
    const owners = await this.context.repository.owners(resource, unique(ids));
    const instances = unique([...owners.values()]).sort(byNumericId);
    const reloaded = await Promise.all(instances.map((instanceId) => this.bumpReload(resource, instanceId)));
    return { reloaded, notAssigned: ids.filter((id) => !owners.has(id)) };
  }

  private bumpReload(resource: string, instanceId: string): Promise<{ instanceId: string; times: number }> {
    const { repository, store } = this.context;
    return withRetry(async () => {
      const path = repository.layout.reload(resource, instanceId);
      const node = await store.get(path);
      if (!node) throw new ConflictError('NoNode', path);
      const times = parseNode(ReloadNodeSchema, node).times + 1;
      await store.commit([{ op: 'set', path, data: encodeReload(times), version: node.version }]);
      repository.invalidate(resource, instanceId);
      return { instanceId, times };
    }, STORE_RETRY);
  }
}

interface Touched {
  readonly before: CachedInstance;
  readonly after: InstanceState;
  readonly gone: readonly string[];
}

/** Consecutive groups whose lists (before) stay within MULTI_BUDGET_BYTES together; a larger list goes alone. */
function packByListBytes(touched: readonly Touched[]): Touched[][] {
  const packs: Touched[][] = [];
  let pack: Touched[] = [];
  let bytes = 0;
  for (const entry of touched) {
    const size = listBytes(entry.before.state.ids);
    if (pack.length > 0 && bytes + size > MULTI_BUDGET_BYTES) {
      packs.push(pack);
      pack = [];
      bytes = 0;
    }
    pack.push(entry);
    bytes += size;
  }
  if (pack.length > 0) packs.push(pack);
  return packs;
}

const holdsAll = (instance: CachedInstance, ids: readonly string[]): boolean => {
  const held = new Set(instance.state.ids);
  return ids.every((id) => held.has(id));
};
