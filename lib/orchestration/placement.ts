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
import { choosePlacement, isDraining, newInstance, withAdded } from '../domain/placement.js';
import { ConflictError, isConflict, withRetry, type WriteOp } from '../store/port.js';
import type { CapacityUseCase, KindLimits } from './capacity.js';
import { chunks, STORE_RETRY, unique, type Kinds, type OrchestrationContext } from './context.js';
import type { CachedInstance } from './repository.js';
import type { AssignResult, InstanceState, Placement } from './types.js';

/** Ids per multi: keeps each transaction well under ZooKeeper's default 1 MB request limit. */
export const IDS_PER_MULTI = 500;
/** Rough bytes of resource lists one multi may rewrite (ZooKeeper's default request limit is 1 MB). */
export const MULTI_BUDGET_BYTES = 600_000;
/** Most instances one placement batch writes (see distribute). */
const INSTANCES_PER_BATCH = 4;
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
   * Places ids in one multi. The batch goes to the least-loaded instances with
   * room in a few chunks (distribute); each touched instance is written once,
   * with all the ids it takes. Instances whose lists do not fit the
   * transaction budget keep their ids for the next multi; ids that find the
   * kind at its maximum come back as noRoom.
   */
  private async placeBatch(
    kind: KindConfig,
    ids: readonly string[],
    writing: Set<string>,
  ): Promise<{ placements: Placement[]; created: string[]; rest: string[]; noRoom: string[] }> {
    const { repository } = this.context;
    const resource = kind.resource;
    const limits = await this.capacity.limits(resource);
    const cached = new Map(await repository.cached(resource));
    // Instances other multis of this process are writing, and those whose workers are still starting.
    const othersWriting = new Set([...writing, ...(await this.capacity.warming(resource))]);
    let plan = distribute(cached, ids, othersWriting, limits);
    // Instances another process changed since we cached them: re-read those the plan uses and keep the plan while
    // they still have room for it (choosing again would chase the instance every other writer chases too).
    const stale = [...plan.targets.keys()].filter((id) => cached.has(id) && repository.isStale(resource, id));
    if (stale.length > 0) {
      for (const [id, fresh] of await repository.refreshInstances(resource, stale)) {
        if (fresh) cached.set(id, fresh);
        else cached.delete(id);
      }
      const stillFits = stale.every((id) => {
        const state = cached.get(id)?.state;
        return (
          state !== undefined &&
          !isDraining(state) &&
          state.used + plan.targets.get(id)!.length <= limits.resourcePerInstance
        );
      });
      if (!stillFits) plan = distribute(cached, ids, othersWriting, limits);
    }

    const packed: Array<[string, string[]]> = [];
    let bytes = 0;
    for (const [instanceId, taken] of plan.targets) {
      if (packed.length > 0 && bytes >= MULTI_BUDGET_BYTES) break;
      const held = cached.get(instanceId)?.state.ids ?? [];
      // Already on the chosen instance as far as we know: settle it through the index like any other redelivery.
      const duplicate = taken.find((id) => held.includes(id));
      if (duplicate !== undefined)
        throw new ConflictError(
          'NodeExists',
          repository.layout.index(resource, duplicate),
          `${duplicate} is already assigned`,
        );
      packed.push([instanceId, taken]);
      bytes += listBytes(held) + listBytes(taken) + taken.length * 64;
    }

    const ops: WriteOp[] = [];
    const written: Array<{ before: CachedInstance | undefined; after: InstanceState }> = [];
    const placements: Placement[] = [];
    const created: string[] = [];
    for (const [instanceId, taken] of packed) {
      const before = cached.get(instanceId);
      // A multi changes each list once: one _reload bump per instance per multi.
      const grown = withAdded(
        withCapacity(before?.state ?? newInstance(instanceId, limits.resourcePerInstance), limits),
        taken,
      );
      const after = before ? { ...grown, reloadTimes: before.state.reloadTimes + 1 } : { ...grown, reloadTimes: 0 };
      written.push({ before, after });
      ops.push(
        ...(before
          ? repository.writes.updateOps(resource, before, after)
          : repository.writes.createOps(resource, after)),
      );
      if (!before) created.push(instanceId);
      for (const id of taken) {
        placements.push({ id, instanceId });
        ops.push(repository.writes.indexCreateOp(resource, id, instanceId));
      }
    }
    // Claimed while the multi is in flight: other multis of this process steer clear of these instances.
    for (const [instanceId] of packed) writing.add(instanceId);
    try {
      await repository.commit(resource, ops, written);
    } finally {
      for (const [instanceId] of packed) writing.delete(instanceId);
    }
    const rest = [...plan.targets].slice(packed.length).flatMap(([, taken]) => taken);
    return { placements, created, rest, noRoom: plan.noRoom };
  }
}

/**
 * Where the ids of a batch go, id by id, as the batch fills the instances:
 * the least-loaded with room (choosePlacement), but among at most
 * INSTANCES_PER_BATCH instances once that many are touched. A single create is
 * exactly the least-loaded rule and a pool of a few instances still fills
 * evenly, but a batch of 100 over 100 instances writes 4 lists, not 100:
 * every touched list is rewritten whole, and concurrent consumers, each
 * starting from the instances least loaded when it looks (ties spread by id),
 * rarely write the same ones. The next batches go to the instances least
 * loaded then, so the pool stays within a batch's share of even. When the
 * touched instances are full the batch moves on; once the kind is at its
 * maximum and full, the remaining ids have no room.
 */
function distribute(
  cached: ReadonlyMap<string, CachedInstance>,
  ids: readonly string[],
  exclude: ReadonlySet<string>,
  limits: KindLimits,
): { targets: Map<string, string[]>; noRoom: string[] } {
  const options = { exclude, capacity: limits.resourcePerInstance, maxInstances: limits.maxInstances };
  const view = new Map([...cached].map(([id, c]) => [id, c.state]));
  const targets = new Map<string, string[]>();
  for (const [index, id] of ids.entries()) {
    const touched =
      targets.size >= INSTANCES_PER_BATCH
        ? [...targets.keys()]
            .map((target) => view.get(target)!)
            .filter((state) => state.used < limits.resourcePerInstance)
        : [];
    const choice = choosePlacement(touched.length > 0 ? touched : [...view.values()], id, options);
    if (!choice) return { targets, noRoom: ids.slice(index) };
    const seen = view.get(choice.instanceId) ?? newInstance(choice.instanceId, limits.resourcePerInstance);
    view.set(choice.instanceId, { ...seen, used: seen.used + 1 });
    const taken = targets.get(choice.instanceId);
    if (taken) taken.push(id);
    else targets.set(choice.instanceId, [id]);
  }
  return { targets, noRoom: [] };
}

/** Bytes of an id list as `{"ids":[…]}` stores it, near enough for a budget. */
export const listBytes = (ids: readonly string[]): number => ids.reduce((sum, id) => sum + id.length + 3, 0);

/**
 * An instance as placement writes it: with the kind's capacity as `count`
 * (an instance written under the legacy rule may carry a smaller one; it is
 * healed on its next write), unless it already holds more.
 */
const withCapacity = <T extends { used: number; count: number }>(state: T, limits: KindLimits): T =>
  state.used <= limits.resourcePerInstance && !isDraining(state)
    ? { ...state, count: limits.resourcePerInstance }
    : state;

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
