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
import { IDS_PER_MULTI } from './placement.js';
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
    for (const batch of chunks(unique(ids), IDS_PER_MULTI)) {
      await withRetry(async () => {
        const index = await repository.indexEntries(resource, batch);
        const present = batch.filter((id) => index.has(id));
        const groups = new Map<string, string[]>();
        for (const id of present) {
          const owner = index.get(id)!.instanceId;
          groups.set(owner, [...(groups.get(owner) ?? []), id]);
        }
        const ops: WriteOp[] = [];
        const written: Array<{ before: CachedInstance; after: InstanceState }> = [];
        for (const [instanceId, gone] of groups) {
          let before = await repository.instance(resource, instanceId);
          // The index is the truth: a cached list that lacks one of the ids is older than it.
          if (before && !holdsAll(before, gone)) before = await repository.refreshInstance(resource, instanceId);
          if (!before)
            throw new ConflictError(
              'NoNode',
              repository.layout.instance(resource, instanceId),
              `instance ${instanceId} vanished`,
            );
          const after = withRemoved(before.state, gone);
          written.push({ before, after });
          ops.push(...repository.updateOps(resource, before, after));
        }
        for (const id of present) ops.push(repository.indexRemoveOp(resource, id, index.get(id)!.version));
        await repository.commit(resource, ops, written);
        for (const id of present) removed.push({ id, instanceId: index.get(id)!.instanceId });
        notAssigned.push(...batch.filter((id) => !index.has(id)));
      }, STORE_RETRY);
    }
    // A resource deleted while it waited for room is done waiting.
    if (notAssigned.length > 0) await this.capacity.settle(resource, notAssigned);
    this.context.logger.debug({ resource, removed: removed.length }, 'unassigned');
    return { removed, notAssigned };
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

const holdsAll = (instance: CachedInstance, ids: readonly string[]): boolean => {
  const held = new Set(instance.state.ids);
  return ids.every((id) => held.has(id));
};
