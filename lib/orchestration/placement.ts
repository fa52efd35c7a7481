/**
 * Assign: puts new resources on instances (SPEC §3 "New resource"): the
 * least-loaded instance with room, a new instance only when every one is full
 * and the kind is below its maximum, else the resource is kept pending.
 *
 * Group commit: while placement multis are in flight (a few at once, on
 * disjoint instances, so a process never races itself), concurrent assign
 * calls of this process queue up and the next multi carries them all. Each
 * multi creates the ids' index entries with the list change, so an id placed
 * meanwhile by anyone (a redelivery, a racing process) fails the multi and is
 * then reported as already assigned.
 */
import type { KindConfig } from '../config/kinds.js';
import { choosePlacement, newInstance, withAdded } from '../domain/placement.js';
import { ConflictError, isConflict, withRetry, type WriteOp } from '../store/port.js';
import type { CapacityUseCase, KindLimits } from './capacity.js';
import { chunks, STORE_RETRY, unique, type Kinds, type OrchestrationContext } from './context.js';
import type { CachedInstance } from './repository.js';
import type { AssignResult, InstanceState, Placement } from './types.js';

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
  /** Ids that found no room: the kind is at its maximum. */
  readonly pending: ReadonlySet<string>;
}

export class PlacementUseCase {
  private readonly queues = new Map<string, PlacementQueue>();

  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly capacity: CapacityUseCase,
  ) {}

  async assign(resource: string, ids: readonly string[]): Promise<AssignResult> {
    const kind = this.kinds.validated(resource, ids);
    await this.context.repository.prepare(resource);
    const results = await Promise.all(chunks(unique(ids), IDS_PER_MULTI).map((batch) => this.enqueue(kind, batch)));
    const result: AssignResult = {
      assigned: results.flatMap((r) => r.assigned),
      alreadyAssigned: results.flatMap((r) => r.alreadyAssigned),
      createdInstances: results.flatMap((r) => r.createdInstances),
      pending: results.flatMap((r) => r.pending),
    };
    await this.capacity.keepPending(resource, result.pending);
    // Ids that were pending and are placed (or found placed) now are pending no more.
    await this.capacity.settle(
      resource,
      [...result.assigned, ...result.alreadyAssigned].map((p) => p.id),
    );
    // Callers log the outcome with their context (message, request); here only for debugging.
    this.context.logger.debug(
      { resource, assigned: result.assigned.length, createdInstances: result.createdInstances },
      'assigned',
    );
    return result;
  }

  async placePending(resource: string): Promise<AssignResult> {
    const pending = await this.capacity.pendingIds(resource);
    if (pending.length === 0) return { assigned: [], alreadyAssigned: [], createdInstances: [], pending: [] };
    const result = await this.assign(resource, pending);
    if (result.assigned.length > 0)
      this.context.logger.info(
        { resource, placed: result.assigned.length, stillPending: result.pending.length },
        'pending resources placed',
      );
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
    const noRoom = new Set<string>();
    let pending = ids;
    await withRetry(async () => {
      if (pending.length === 0) return;
      try {
        while (pending.length > 0) {
          const outcome = await this.placeBatch(kind, pending, writing);
          placements.push(...outcome.placements);
          created.push(...outcome.created);
          for (const id of outcome.noRoom) noRoom.add(id);
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
    return {
      placements,
      placed: new Map(placements.map((p) => [p.id, p.instanceId])),
      already,
      created,
      pending: noRoom,
    };
  }

  /**
   * Places ids in one multi, each on the least-loaded instance with room as
   * the batch fills them (choosePlacement), so a bulk create spreads like
   * single creates would. What does not fit the transaction budget is left
   * for the next multi; what finds the kind at its maximum comes back as noRoom.
   */
  private async placeBatch(
    kind: KindConfig,
    ids: readonly string[],
    writing: Set<string>,
  ): Promise<{ placements: Placement[]; created: string[]; rest: string[]; noRoom: string[] }> {
    const { repository } = this.context;
    const resource = kind.resource;
    const limits = await this.capacity.limits(resource);
    const cached = await repository.cached(resource);
    /** Per instance written: the exact cached snapshot its new content is built from, whose versions the compare-and-set uses. */
    const base = new Map<string, CachedInstance | undefined>();
    const added = new Map<string, string[]>();
    /** What the choice sees: every instance with its load as this batch fills it. */
    const view = new Map([...cached].map(([id, c]) => [id, c.state]));
    const othersWriting = new Set<string>();
    const created: string[] = [];
    const placements: Placement[] = [];
    let index = 0;
    let bytes = 0;
    try {
      while (index < ids.length && bytes < MULTI_BUDGET_BYTES) {
        const id = ids[index]!;
        othersWriting.clear();
        for (const instanceId of writing) if (!base.has(instanceId)) othersWriting.add(instanceId);
        const choice = choosePlacement([...view.values()], id, {
          exclude: othersWriting,
          capacity: limits.resourcePerInstance,
          maxInstances: limits.maxInstances,
        });
        if (!choice) break;
        if (!base.has(choice.instanceId)) {
          let snapshot = cached.get(choice.instanceId);
          if (snapshot && repository.isStale(resource, choice.instanceId)) {
            // Re-read it and write from the fresh copy; if it is full now, choose again.
            snapshot = await repository.refreshInstance(resource, choice.instanceId);
            if (!snapshot) {
              view.delete(choice.instanceId);
              continue;
            }
            view.set(choice.instanceId, snapshot.state);
            if (snapshot.state.used >= limits.resourcePerInstance) continue;
          }
          // Already on the chosen instance as far as we know: settle it through the index like any other redelivery.
          if (snapshot?.state.ids.includes(id))
            throw new ConflictError('NodeExists', repository.layout.index(resource, id), `${id} is already assigned`);
          base.set(choice.instanceId, snapshot);
          added.set(choice.instanceId, []);
          // Claimed from here on: other multis of this process in flight steer clear of it.
          writing.add(choice.instanceId);
          if (choice.isNew) created.push(choice.instanceId);
          bytes += (snapshot?.state.ids ?? []).reduce((sum, held) => sum + held.length + 3, 0);
        } else if (base.get(choice.instanceId)?.state.ids.includes(id)) {
          throw new ConflictError('NodeExists', repository.layout.index(resource, id), `${id} is already assigned`);
        }
        added.get(choice.instanceId)!.push(id);
        const seen = view.get(choice.instanceId) ?? newInstance(choice.instanceId, limits.resourcePerInstance);
        view.set(choice.instanceId, { ...seen, used: seen.used + 1 });
        placements.push({ id, instanceId: choice.instanceId });
        bytes += id.length + 3 + 64;
        index++;
      }
      const ops: WriteOp[] = [];
      const written: Array<{ before: CachedInstance | undefined; after: InstanceState }> = [];
      for (const [instanceId, newIds] of added) {
        const before = base.get(instanceId);
        // A multi changes each list once: one _reload bump per instance per multi.
        const grown = withAdded(withCapacity(before?.state ?? newInstance(instanceId, 0), limits), newIds);
        const after = before ? { ...grown, reloadTimes: before.state.reloadTimes + 1 } : { ...grown, reloadTimes: 0 };
        written.push({ before, after });
        ops.push(...(before ? repository.updateOps(resource, before, after) : repository.createOps(resource, after)));
      }
      for (const { id, instanceId } of placements) ops.push(repository.indexCreateOp(resource, id, instanceId));
      await repository.commit(resource, ops, written);
      const atMaximum = index < ids.length && bytes < MULTI_BUDGET_BYTES;
      return {
        placements,
        created,
        rest: atMaximum ? [] : ids.slice(index),
        noRoom: atMaximum ? ids.slice(index) : [],
      };
    } finally {
      for (const id of base.keys()) writing.delete(id);
    }
  }
}

/**
 * An instance as placement writes it: with the kind's capacity as `count`
 * (an instance written under the legacy rule may carry a smaller one; it is
 * healed on its next write), unless it already holds more.
 */
const withCapacity = <T extends { used: number; count: number }>(state: T, limits: KindLimits): T =>
  state.used <= limits.resourcePerInstance ? { ...state, count: limits.resourcePerInstance } : state;

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
  const firstOnInstance = new Map(
    outcome.created.map((id) => [id, outcome.placements.find((p) => p.instanceId === id)?.id]),
  );
  for (const request of group) {
    const assigned: Placement[] = [];
    const alreadyAssigned: Placement[] = [];
    const pending: string[] = [];
    for (const id of request.ids) {
      if (outcome.pending.has(id)) {
        pending.push(id);
        continue;
      }
      const placed = outcome.placed.get(id);
      if (placed !== undefined && !claimed.has(id)) {
        claimed.add(id);
        assigned.push({ id, instanceId: placed });
      } else {
        alreadyAssigned.push({ id, instanceId: placed ?? outcome.already.get(id)! });
      }
    }
    const createdInstances = [...firstOnInstance]
      .filter(([, first]) => first !== undefined && assigned.some((p) => p.id === first))
      .map(([id]) => id);
    request.resolve({ assigned, alreadyAssigned, createdInstances, pending });
  }
}
