/**
 * Assign: puts new resources on instances (SPEC §3 "New resource").
 *
 * Group commit: while placement multis are in flight (a few at once, on
 * disjoint instances, so a process never races itself), concurrent assign
 * calls of this process queue up and the next multi carries them all. Each
 * multi creates the ids' index entries with the list change, so an id placed
 * meanwhile by anyone (a redelivery, a racing process) fails the multi and is
 * then reported as already assigned.
 */
import type { KindConfig } from '../config/kinds.js';
import { LEGACY_LIMITS } from '../domain/options.js';
import { choosePlacement, newInstance, withAdded } from '../domain/placement.js';
import { ConflictError, isConflict, withRetry, type WriteOp } from '../store/port.js';
import { chunks, STORE_RETRY, unique, type Kinds, type OrchestrationContext } from './context.js';
import type { CachedInstance } from './repository.js';
import type { AssignResult, Placement } from './types.js';

/** Ids per multi: keeps each transaction well under ZooKeeper's default 1 MB request limit. */
export const IDS_PER_MULTI = 500;
/** Rough bytes of resource lists one multi may rewrite (ZooKeeper's default request limit is 1 MB). */
const MULTI_BUDGET_BYTES = 600_000;
/** Placement multis one process keeps in flight per kind, on disjoint instances. */
const PARALLEL_MULTIS = 4;

interface PlacementRequest {
  readonly ids: readonly string[];
  resolve(result: AssignResult): void;
  reject(error: unknown): void;
}
interface PlacementQueue {
  readonly waiting: PlacementRequest[];
  /** Drain loops running; each has at most one multi in flight. */
  drainers: number;
  /** Instances some drain loop is writing right now. */
  readonly writing: Set<string>;
}
interface PlacedIds {
  readonly placements: Placement[];
  readonly placed: Map<string, string>;
  readonly already: Map<string, string>;
  readonly created: string[];
}

export class PlacementUseCase {
  private readonly queues = new Map<string, PlacementQueue>();

  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
  ) {}

  async assign(resource: string, ids: readonly string[]): Promise<AssignResult> {
    const kind = this.kinds.validated(resource, ids);
    await this.context.repository.prepare(resource);
    const results = await Promise.all(chunks(unique(ids), IDS_PER_MULTI).map((batch) => this.enqueue(kind, batch)));
    const result: AssignResult = {
      assigned: results.flatMap((r) => r.assigned),
      alreadyAssigned: results.flatMap((r) => r.alreadyAssigned),
      createdInstances: results.flatMap((r) => r.createdInstances),
    };
    // Callers log the outcome with their context (message, request); here only for debugging.
    this.context.logger.debug({ resource, assigned: result.assigned.length, createdInstances: result.createdInstances }, 'assigned');
    return result;
  }

  private enqueue(kind: KindConfig, ids: readonly string[]): Promise<AssignResult> {
    let queue = this.queues.get(kind.resource);
    if (!queue) this.queues.set(kind.resource, (queue = { waiting: [], drainers: 0, writing: new Set() }));
    const promise = new Promise<AssignResult>((resolve, reject) => queue.waiting.push({ ids, resolve, reject }));
    if (queue.drainers < PARALLEL_MULTIS) void this.drain(kind, queue);
    return promise;
  }

  private async drain(kind: KindConfig, queue: PlacementQueue): Promise<void> {
    queue.drainers++;
    try {
      while (queue.waiting.length > 0) {
        // One macrotask: callers whose last placement just completed enqueue their next one and ride this multi.
        await new Promise((resolve) => setImmediate(resolve));
        if (queue.waiting.length === 0) break;
        const group = takeGroup(queue.waiting);
        try {
          const outcome = await this.placeIds(kind, unique(group.flatMap((request) => request.ids)), queue.writing);
          settleGroup(group, outcome);
        } catch (error) {
          for (const request of group) request.reject(error);
        }
      }
    } finally {
      queue.drainers--;
    }
  }

  /** Places ids (one multi per instance-sized chunk), retrying conflicts; ids found already placed are reported as such. */
  private async placeIds(kind: KindConfig, ids: readonly string[], writing: Set<string>): Promise<PlacedIds> {
    const { repository } = this.context;
    const resource = kind.resource;
    const placements: Placement[] = [];
    const already = new Map<string, string>();
    const created: string[] = [];
    let pending = ids;
    await withRetry(async () => {
      if (pending.length === 0) return;
      try {
        while (pending.length > 0) {
          const outcome = await this.placeBatch(kind, pending, writing);
          placements.push(...outcome.placements);
          created.push(...outcome.created);
          pending = outcome.rest;
        }
      } catch (error) {
        if (!isConflict(error)) throw error;
        // Only an index entry that exists means an id is placed already; anything else is a stale instance.
        if (!repository.isIndexConflict(resource, error)) throw error;
        // Ids placed meanwhile (a redelivery, or a racing writer) are done; place the rest.
        const owners = await repository.owners(resource, pending);
        for (const id of pending) if (owners.has(id)) already.set(id, owners.get(id)!);
        const before = pending.length;
        pending = pending.filter((id) => !owners.has(id));
        if (pending.length === 0) return;
        if (pending.length === before) await repository.afterConflict(resource, error);
        throw error;
      }
    }, STORE_RETRY);
    return { placements, placed: new Map(placements.map((p) => [p.id, p.instanceId])), already, created };
  }

  /**
   * Places ids in one multi. The first id picks the instance (see
   * choosePlacement) and as many of the batch as fit go there too: a bulk
   * create then rewrites one list per chunk instead of every list in the kind.
   * What does not fit the transaction budget is left for the next multi.
   */
  private async placeBatch(kind: KindConfig, ids: readonly string[], writing: Set<string>): Promise<{ placements: Placement[]; created: string[]; rest: string[] }> {
    const { repository } = this.context;
    const resource = kind.resource;
    /** Per instance written: the exact cached snapshot its new content is built from, whose versions the compare-and-set uses. */
    const base = new Map<string, CachedInstance | undefined>();
    const next = new Map<string, ReturnType<typeof newInstance>>();
    const created: string[] = [];
    const placements: Placement[] = [];
    let remaining = [...ids];
    let bytes = 0;
    try {
      while (remaining.length > 0 && bytes < MULTI_BUDGET_BYTES) {
        const cached = await repository.cached(resource);
        const states = [...cached.values()].map((c) => next.get(c.state.id) ?? c.state);
        for (const [id, state] of next) if (!cached.has(id)) states.push(state);
        const choice = choosePlacement(states, remaining[0]!, { exclude: writing });
        if (!next.has(choice.instanceId)) {
          let snapshot = cached.get(choice.instanceId);
          if (snapshot && repository.isStale(resource, choice.instanceId)) {
            // Re-read and write it at once while it still has room: choosing again would mean another read.
            snapshot = await repository.refreshInstance(resource, choice.instanceId);
            if (!snapshot || snapshot.state.used >= snapshot.state.count) continue;
          }
          base.set(choice.instanceId, snapshot);
          // Claimed from here on: other multis of this process in flight steer clear of it.
          writing.add(choice.instanceId);
          if (choice.isNew) created.push(choice.instanceId);
        }
        const current = next.get(choice.instanceId) ?? base.get(choice.instanceId)?.state ?? newInstance(choice.instanceId, newInstanceCount(cached));
        const take = remaining.slice(0, Math.max(1, current.count - current.used));
        // Already on the chosen instance as far as we know: settle it through the index like any other redelivery.
        const held = new Set(current.ids);
        const duplicate = take.find((id) => held.has(id));
        if (duplicate !== undefined) throw new ConflictError('NodeExists', repository.layout.index(resource, duplicate), `${duplicate} is already assigned`);
        remaining = remaining.slice(take.length);
        const after = withAdded(current, take);
        next.set(choice.instanceId, after);
        for (const id of take) placements.push({ id, instanceId: choice.instanceId });
        bytes += after.ids.reduce((sum, id) => sum + id.length + 3, 0) + take.length * 64;
      }
      const ops: WriteOp[] = [];
      const written: Array<{ before: CachedInstance | undefined; after: ReturnType<typeof newInstance> }> = [];
      for (const [instanceId, state] of next) {
        const before = base.get(instanceId);
        // A multi changes each list once: one _reload bump per instance per multi.
        const after = before ? { ...state, reloadTimes: before.state.reloadTimes + 1 } : { ...state, reloadTimes: 0 };
        written.push({ before, after });
        ops.push(...(before ? repository.updateOps(resource, before, after) : repository.createOps(resource, after)));
      }
      for (const { id, instanceId } of placements) ops.push(repository.indexCreateOp(resource, id, instanceId));
      await repository.commit(resource, ops, written);
      return { placements, created, rest: remaining };
    } finally {
      for (const id of base.keys()) writing.delete(id);
    }
  }
}

/** New instances get the count the kind's instances already have (legacy reused `count`), else the legacy default. */
function newInstanceCount(cached: ReadonlyMap<string, CachedInstance>): number {
  const counts = [...cached.values()].map((c) => c.state.count);
  return counts.length > 0 ? Math.max(...counts) : LEGACY_LIMITS.resourcePerInstance.default;
}

/** The next requests that fit one multi, in arrival order. */
function takeGroup(waiting: PlacementRequest[]): PlacementRequest[] {
  const group: PlacementRequest[] = [waiting.shift()!];
  let size = group[0]!.ids.length;
  while (waiting.length > 0 && size + waiting[0]!.ids.length <= IDS_PER_MULTI) {
    size += waiting[0]!.ids.length;
    group.push(waiting.shift()!);
  }
  return group;
}

/** Each id is "assigned" to the first request that asked for it; any other asker sees it already placed. */
function settleGroup(group: readonly PlacementRequest[], outcome: PlacedIds): void {
  const claimed = new Set<string>();
  const firstOnInstance = new Map(outcome.created.map((id) => [id, outcome.placements.find((p) => p.instanceId === id)?.id]));
  for (const request of group) {
    const assigned: Placement[] = [];
    const alreadyAssigned: Placement[] = [];
    for (const id of request.ids) {
      const placed = outcome.placed.get(id);
      if (placed !== undefined && !claimed.has(id)) {
        claimed.add(id);
        assigned.push({ id, instanceId: placed });
      } else {
        alreadyAssigned.push({ id, instanceId: placed ?? outcome.already.get(id)! });
      }
    }
    const createdInstances = [...firstOnInstance].filter(([, first]) => first !== undefined && assigned.some((p) => p.id === first)).map(([id]) => id);
    request.resolve({ assigned, alreadyAssigned, createdInstances });
  }
}
