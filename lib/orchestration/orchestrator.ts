/**
 * The use cases over the store port: assign, unassign, reload, orchestrate,
 * locate, heartbeats, instance records and leases.
 *
 * Every write is one atomic multi-node compare-and-set built from what was
 * read (or cached), so concurrent invocations in many processes can never
 * lose or duplicate an assignment: a stale read fails the whole multi with a
 * ConflictError, nothing is written, and the operation re-reads and retries.
 */
import type { KindConfig } from '../config/kinds.js';
import { byNumericId, INSTANCE_ID, type InstanceState } from '../domain/orchestration.js';
import { planCapacity, resolveOptions } from '../domain/options.js';
import { choosePlacement, newInstance, withAdded, withRemoved } from '../domain/placement.js';
import { rebalance } from '../domain/rebalance.js';
import { assertResourceIds } from '../domain/resource-id.js';
import { loggerFor, type Logger } from '../log.js';
import { ANY_VERSION, ConflictError, isConflict, withRetry, type NodeStore, type VersionedNode, type WriteOp } from '../store/port.js';
import { UnknownResourceError, LeaseHeldError } from './errors.js';
import { encodeInstanceData, encodeReload, encodeResources, Layout } from './layout.js';
import type {
  AssignResult,
  HeartbeatInput,
  HeartbeatRecord,
  InstanceRecord,
  InstanceSummary,
  InstanceView,
  Lease,
  OrchestrateOptionsInput,
  OrchestrateResult,
  OrchestrationView,
  Placement,
  ReloadResult,
  UnassignResult,
} from './types.js';

export interface OrchestratorDeps {
  readonly store: NodeStore;
  readonly kinds: readonly KindConfig[];
  readonly root?: string | undefined;
  readonly stateRoot?: string | undefined;
  readonly heartbeatTimeoutMs?: number | undefined;
  readonly now?: (() => number) | undefined;
  readonly logger?: Logger | undefined;
}

/** An instance as last read, with the versions a compare-and-set needs. */
interface Cached {
  readonly state: InstanceState;
  readonly versions: { readonly node: number; readonly resources: number; readonly reload: number };
}

/** Ids per multi: keeps each transaction well under ZooKeeper's default 1 MB request limit. */
const BATCH = 500;
/** Rough bytes of resource lists one multi may rewrite (ZooKeeper's default request limit is 1 MB). */
const MULTI_BUDGET_BYTES = 600_000;
const RETRY = { attempts: 30, baseDelayMs: 4, maxDelayMs: 400 } as const;
const ORCHESTRATE_REPLANS = 5;
/** Placement multis one process keeps in flight per kind, on disjoint instances. */
const PARALLEL_MULTIS = 4;
/** How long one conflict keeps this process watching the instances it caches. */
const CONTENDED_MS = 60_000;

const parseJson = (node: VersionedNode | undefined): Record<string, unknown> => {
  if (!node || node.data === '') return {};
  try {
    const value: unknown = JSON.parse(node.data);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};
const int = (value: unknown, fallback = 0): number => (typeof value === 'number' && Number.isInteger(value) ? value : fallback);
const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];
const chunks = <T>(values: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
};

export class Orchestrator {
  readonly kinds: readonly KindConfig[];
  readonly layout: Layout;
  private readonly store: NodeStore;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly heartbeatTimeoutMs: number;
  private readonly cache = new Map<string, Map<string, Cached>>();
  private readonly placementQueues = new Map<string, PlacementQueue>();
  /** Instances whose `_reload` changed since they were cached (watch fired): refreshed before the next write to them. */
  private readonly stale = new Map<string, Set<string>>();
  private readonly watching = new Map<string, Set<string>>();
  /** Until when another writer counts as active (see watchInstance). */
  private contendedUntil = 0;
  private readonly prepared = new Map<string, Promise<void>>();

  constructor(deps: OrchestratorDeps) {
    this.store = deps.store;
    this.kinds = deps.kinds;
    this.layout = new Layout(deps.root, deps.stateRoot);
    this.now = deps.now ?? Date.now;
    this.logger = deps.logger ?? loggerFor('orchestrator');
    this.heartbeatTimeoutMs = deps.heartbeatTimeoutMs ?? 90_000;
  }

  kind(resource: string): KindConfig {
    const kind = this.kinds.find((k) => k.resource === resource);
    if (!kind) throw new UnknownResourceError(resource, this.kinds.map((k) => k.resource));
    return kind;
  }

  ping(): Promise<void> {
    return this.store.ping();
  }

  // ---------------------------------------------------------------- reads

  /** The orchestration of a kind, fresh from the store (and refreshes the cache). */
  async read(resource: string): Promise<InstanceState[]> {
    const ids = await this.instanceIds(resource);
    const paths = ids.flatMap((id) => [this.layout.instance(resource, id), this.layout.resources(resource, id), this.layout.reload(resource, id)]);
    const nodes = await this.store.getMany(paths);
    const fresh = new Map<string, Cached>();
    ids.forEach((id, i) => {
      const cached = this.toCached(id, nodes[3 * i], nodes[3 * i + 1], nodes[3 * i + 2]);
      if (cached) {
        fresh.set(id, cached);
        this.watchInstance(resource, id);
      }
    });
    this.cache.set(resource, fresh);
    return [...fresh.values()].map((c) => c.state);
  }

  /** The kind's instance ids without their lists: what reconcile needs, one cheap read at any scale. */
  async instanceIds(resource: string): Promise<string[]> {
    this.kind(resource);
    return (await this.store.children(this.layout.kind(resource))).filter((id) => INSTANCE_ID.test(id)).sort(byNumericId);
  }

  async locate(resource: string, id: string): Promise<string | undefined> {
    this.kind(resource);
    assertResourceIds([id]);
    const node = await this.store.get(this.layout.index(resource, id));
    return node?.data || undefined;
  }

  // ---------------------------------------------------------------- assign

  async assign(resource: string, ids: readonly string[]): Promise<AssignResult> {
    const kind = this.kind(resource);
    assertResourceIds(ids);
    await this.prepare(resource);
    const results = await Promise.all(chunks(unique(ids), BATCH).map((batch) => this.enqueuePlacement(kind, batch)));
    const result: AssignResult = {
      assigned: results.flatMap((r) => r.assigned),
      alreadyAssigned: results.flatMap((r) => r.alreadyAssigned),
      createdInstances: results.flatMap((r) => r.createdInstances),
    };
    // Callers log the outcome with their context (message, request); here only for debugging.
    this.logger.debug({ resource, assigned: result.assigned.length, createdInstances: result.createdInstances }, 'assigned');
    return result;
  }

  /**
   * Group commit: while placement multis are in flight (a few at once, on
   * disjoint instances, so a process never races itself), concurrent assign
   * calls of this process queue up and the next multi carries them all.
   */
  private enqueuePlacement(kind: KindConfig, ids: readonly string[]): Promise<AssignResult> {
    let queue = this.placementQueues.get(kind.resource);
    if (!queue) this.placementQueues.set(kind.resource, (queue = { waiting: [], drainers: 0, writing: new Set() }));
    const promise = new Promise<AssignResult>((resolve, reject) => queue.waiting.push({ ids, resolve, reject }));
    if (queue.drainers < PARALLEL_MULTIS) void this.drainPlacements(kind, queue);
    return promise;
  }

  private async drainPlacements(kind: KindConfig, queue: PlacementQueue): Promise<void> {
    queue.drainers++;
    try {
      while (queue.waiting.length > 0) {
        // One macrotask: callers whose last placement just completed enqueue their next one and ride this multi.
        await new Promise((resolve) => setImmediate(resolve));
        if (queue.waiting.length === 0) break;
        const group: PlacementRequest[] = [queue.waiting.shift()!];
        let size = group[0]!.ids.length;
        while (queue.waiting.length > 0 && size + queue.waiting[0]!.ids.length <= BATCH) {
          size += queue.waiting[0]!.ids.length;
          group.push(queue.waiting.shift()!);
        }
        try {
          const outcome = await this.placeIds(kind, unique(group.flatMap((request) => request.ids)), queue.writing);
          // Each id is "assigned" to the first request that asked for it; any other asker sees it already placed.
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
        } catch (error) {
          for (const request of group) request.reject(error);
        }
      }
    } finally {
      queue.drainers--;
    }
  }

  /** Places ids (one multi per instance-sized chunk), retrying conflicts; ids found already placed are reported as such. */
  private async placeIds(kind: KindConfig, ids: readonly string[], writing: Set<string>): Promise<{ placements: Placement[]; placed: Map<string, string>; already: Map<string, string>; created: string[] }> {
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
        if (!(error.reason === 'NodeExists' && error.path?.startsWith(`${this.layout.indexDir(resource)}/`))) {
          await this.refresh(resource, error);
          throw error;
        }
        // Ids placed meanwhile (a redelivery, or a racing writer) are done; place the rest.
        const owners = await this.owners(resource, pending);
        for (const id of pending) if (owners.has(id)) already.set(id, owners.get(id)!);
        const before = pending.length;
        pending = pending.filter((id) => !owners.has(id));
        if (pending.length === 0) return;
        if (pending.length === before) await this.refresh(resource, error);
        throw error;
      }
    }, RETRY);
    return { placements, placed: new Map(placements.map((p) => [p.id, p.instanceId])), already, created };
  }

  /**
   * Places ids in one multi. The first id picks the instance (least used, see
   * choosePlacement) and as many of the batch as fit go there too: a bulk
   * create then rewrites one list per chunk instead of every list in the kind.
   * What does not fit the transaction budget is left for the next multi.
   */
  private async placeBatch(kind: KindConfig, ids: readonly string[], writing: Set<string>): Promise<{ placements: Placement[]; created: string[]; rest: string[] }> {
    const resource = kind.resource;
    const stale = this.staleSet(resource);
    /** Per instance written: the exact cached snapshot its new content is built from, whose versions the compare-and-set uses. */
    const base = new Map<string, Cached | undefined>();
    const next = new Map<string, InstanceState>();
    const created: string[] = [];
    const placements: Placement[] = [];
    let remaining = [...ids];
    let bytes = 0;
    try {
      while (remaining.length > 0 && bytes < MULTI_BUDGET_BYTES) {
        const cached = await this.cached(resource);
        const states = [...cached.values()].map((c) => next.get(c.state.id) ?? c.state);
        for (const [id, state] of next) if (!cached.has(id)) states.push(state);
        const choice = choosePlacement(states, remaining[0]!, { exclude: writing });
        if (!next.has(choice.instanceId)) {
          let snapshot = cached.get(choice.instanceId);
          if (snapshot && stale.has(choice.instanceId)) {
            // Re-read and write it at once while it still has room: choosing again would mean another read.
            snapshot = await this.refreshInstance(resource, choice.instanceId);
            if (!snapshot || snapshot.state.used >= snapshot.state.count) continue;
          }
          base.set(choice.instanceId, snapshot);
          // Claimed from here on: other multis of this process in flight steer clear of it.
          writing.add(choice.instanceId);
          if (choice.isNew) created.push(choice.instanceId);
        }
        const current = next.get(choice.instanceId) ?? base.get(choice.instanceId)?.state ?? newInstance(choice.instanceId, this.newInstanceCount(cached));
        const take = remaining.slice(0, Math.max(1, current.count - current.used));
        // Already on the chosen instance as far as we know: settle it through the index like any other redelivery.
        const held = new Set(current.ids);
        const duplicate = take.find((id) => held.has(id));
        if (duplicate !== undefined) throw new ConflictError('NodeExists', this.layout.index(resource, duplicate), `${duplicate} is already assigned`);
        remaining = remaining.slice(take.length);
        const after = withAdded(current, take);
        next.set(choice.instanceId, after);
        for (const id of take) placements.push({ id, instanceId: choice.instanceId });
        bytes += after.ids.reduce((sum, id) => sum + id.length + 3, 0) + take.length * 64;
      }
      const ops: WriteOp[] = [];
      for (const [instanceId, state] of next) {
        const before = base.get(instanceId);
        // A multi changes each list once: one _reload bump per instance per multi.
        const after = before ? { ...state, reloadTimes: before.state.reloadTimes + 1 } : { ...state, reloadTimes: 0 };
        next.set(instanceId, after);
        ops.push(...(before ? this.updateOps(resource, before, after) : this.createOps(resource, after)));
      }
      for (const { id, instanceId } of placements) ops.push({ op: 'create', path: this.layout.index(resource, id), data: instanceId });
      await this.store.commit(ops);
      for (const [instanceId, state] of next) this.remember(resource, instanceId, state, base.get(instanceId));
      return { placements, created, rest: remaining };
    } finally {
      for (const id of base.keys()) writing.delete(id);
    }
  }

  /** New instances get the count the kind's instances already have (legacy reused `count`), else the legacy default. */
  private newInstanceCount(cached: ReadonlyMap<string, Cached>): number {
    const counts = [...cached.values()].map((c) => c.state.count);
    return counts.length > 0 ? Math.max(...counts) : 5000;
  }

  // ---------------------------------------------------------------- unassign

  async unassign(resource: string, ids: readonly string[]): Promise<UnassignResult> {
    this.kind(resource);
    assertResourceIds(ids);
    await this.prepare(resource);
    const removed: Placement[] = [];
    const notAssigned: string[] = [];
    for (const batch of chunks(unique(ids), BATCH)) {
      await withRetry(async () => {
        const index = await this.indexEntries(resource, batch);
        const present = batch.filter((id) => index.has(id));
        const groups = new Map<string, string[]>();
        for (const id of present) {
          const owner = index.get(id)!.instanceId;
          groups.set(owner, [...(groups.get(owner) ?? []), id]);
        }
        const cached = await this.cached(resource);
        const ops: WriteOp[] = [];
        const next = new Map<string, { before: Cached; after: InstanceState }>();
        for (const [instanceId, gone] of groups) {
          let before = cached.get(instanceId);
          const holdsAll = (c: Cached): boolean => {
            const held = new Set(c.state.ids);
            return gone.every((id) => held.has(id));
          };
          if (!before || this.staleSet(resource).has(instanceId) || !holdsAll(before)) before = await this.refreshInstance(resource, instanceId);
          if (!before) throw new ConflictError('NoNode', this.layout.instance(resource, instanceId), `instance ${instanceId} vanished`);
          const after = withRemoved(before.state, gone);
          next.set(instanceId, { before, after });
          ops.push(...this.updateOps(resource, before, after));
        }
        for (const id of present) ops.push({ op: 'remove', path: this.layout.index(resource, id), version: index.get(id)!.version });
        if (ops.length > 0) {
          try {
            await this.store.commit(ops);
          } catch (error) {
            if (isConflict(error)) await this.refresh(resource, error);
            throw error;
          }
        }
        for (const [instanceId, { before, after }] of next) this.remember(resource, instanceId, after, before);
        for (const id of present) removed.push({ id, instanceId: index.get(id)!.instanceId });
        notAssigned.push(...batch.filter((id) => !index.has(id)));
      }, RETRY);
    }
    this.logger.debug({ resource, removed: removed.length }, 'unassigned');
    return { removed, notAssigned };
  }

  // ---------------------------------------------------------------- reload

  /** Bumps `_reload.times` once on every instance owning one of the ids, so its worker re-reads them. */
  async reload(resource: string, ids: readonly string[]): Promise<ReloadResult> {
    this.kind(resource);
    assertResourceIds(ids);
    const index = await this.indexEntries(resource, unique(ids));
    const owners = unique([...index.values()].map((entry) => entry.instanceId)).sort(byNumericId);
    const reloaded = await Promise.all(owners.map((instanceId) => this.bumpReload(resource, instanceId)));
    return { reloaded, notAssigned: ids.filter((id) => !index.has(id)) };
  }

  private async bumpReload(resource: string, instanceId: string): Promise<{ instanceId: string; times: number }> {
    return withRetry(async () => {
      const path = this.layout.reload(resource, instanceId);
      const node = await this.store.get(path);
      if (!node) throw new ConflictError('NoNode', path);
      const times = int(parseJson(node).times) + 1;
      await this.store.commit([{ op: 'set', path, data: encodeReload(times), version: node.version }]);
      this.cache.get(resource)?.delete(instanceId);
      return { instanceId, times };
    }, RETRY);
  }

  // ---------------------------------------------------------------- orchestrate

  /**
   * Re-orchestrates a kind: the legacy capacity rules decide how many
   * instances and how many resources each may hold, then the minimal-movement
   * rebalance moves as few resources as possible to get every instance within
   * one of the mean. Each move step is one atomic multi (both lists, both
   * counters, both `_reload`s and the moved ids' index entries), so workers
   * never see a resource on two instances or on none, even if this stops half-way.
   */
  async orchestrate(resource: string, input: OrchestrateOptionsInput, holder: string): Promise<OrchestrateResult> {
    const kind = this.kind(resource);
    const options = resolveOptions(input, { initInstances: kind.initInstances });
    await this.prepare(resource);
    const lease = await this.acquireLease(`orchestrate-${resource}`, holder, 5 * 60_000);
    try {
      const before = summarize(await this.read(resource));
      let moved = 0;
      let first: { minimumMoves: number; plan: OrchestrateResult['plan'] } | undefined;
      let capacity = 0;
      let instances = 0;
      for (let attempt = 1; ; attempt++) {
        const state = await this.read(resource);
        const total = state.reduce((sum, instance) => sum + instance.used, 0);
        ({ instances, resourcePerInstance: capacity } = planCapacity(total, options));
        const result = rebalance(new Map(state.map((s) => [s.id, s.ids])), instances, capacity);
        first ??= { minimumMoves: result.minimumMoves, plan: result.plan };
        try {
          moved += await this.applyRebalance(resource, result, capacity);
          break;
        } catch (error) {
          if (!isConflict(error) || attempt >= ORCHESTRATE_REPLANS) throw error;
          this.logger.warn({ resource, attempt, reason: error.message }, 'orchestrate raced a concurrent write; re-planning');
        }
      }
      const after = summarize(await this.read(resource));
      this.logger.debug({ resource, instances, resourcePerInstance: capacity, moved }, 'orchestrated');
      return { resource, instances, resourcePerInstance: capacity, before, after, moved, minimumMoves: first.minimumMoves, plan: first.plan };
    } finally {
      await this.releaseLease(lease);
    }
  }

  private async applyRebalance(resource: string, result: ReturnType<typeof rebalance>, capacity: number): Promise<number> {
    const cached = await this.cached(resource);
    for (const id of result.added) await this.store.commit(this.createOps(resource, newInstance(id, capacity)));
    if (result.added.length > 0) await this.read(resource);
    let moved = 0;
    for (const step of result.plan) {
      for (const ids of chunks(step.ids, BATCH * 2)) {
        const from = this.cache.get(resource)?.get(step.from) ?? (await this.refreshInstance(resource, step.from));
        const to = this.cache.get(resource)?.get(step.to) ?? (await this.refreshInstance(resource, step.to));
        if (!from || !to) throw new ConflictError('NoNode', this.layout.instance(resource, step.from));
        const fromAfter = withCount(withRemoved(from.state, ids), capacity);
        const toAfter = withAdded(withCount(to.state, Math.max(capacity, to.state.used + ids.length)), ids);
        const ops: WriteOp[] = [...this.updateOps(resource, from, fromAfter), ...this.updateOps(resource, to, toAfter)];
        for (const id of ids) ops.push({ op: 'set', path: this.layout.index(resource, id), data: step.to, version: ANY_VERSION });
        await this.store.commit(ops);
        this.remember(resource, step.from, fromAfter, from);
        this.remember(resource, step.to, toAfter, to);
        moved += ids.length;
      }
    }
    // Every target instance ends with the planned capacity; removed ones are empty now and go.
    for (const instance of [...(this.cache.get(resource) ?? cached).values()]) {
      if (result.removed.includes(instance.state.id)) continue;
      if (instance.state.count !== capacity && instance.state.used <= capacity) {
        await this.store.commit([
          { op: 'set', path: this.layout.instance(resource, instance.state.id), data: encodeInstanceData(instance.state.used, capacity), version: instance.versions.node },
        ]);
      }
    }
    for (const id of result.removed) {
      const gone = this.cache.get(resource)?.get(id) ?? (await this.refreshInstance(resource, id));
      if (!gone) continue;
      if (gone.state.used > 0) throw new ConflictError('BadVersion', this.layout.instance(resource, id), `instance ${id} received resources while being removed`);
      await this.store.commit([
        { op: 'remove', path: this.layout.tmp(resource, id), version: ANY_VERSION },
        { op: 'remove', path: this.layout.reload(resource, id), version: gone.versions.reload },
        { op: 'remove', path: this.layout.resources(resource, id), version: gone.versions.resources },
        { op: 'remove', path: this.layout.instance(resource, id), version: gone.versions.node },
      ]);
      await this.forget(resource, id);
    }
    this.cache.delete(resource);
    return moved;
  }

  // ---------------------------------------------------------------- views

  async describe(resource: string): Promise<OrchestrationView> {
    const kind = this.kind(resource);
    const [instances, heartbeats, records] = await Promise.all([this.summaries(resource), this.heartbeats(resource), this.records(resource)]);
    const now = this.now();
    const views: InstanceView[] = instances.map((instance) => {
      const beat = heartbeats.get(instance.id);
      const record = records.get(instance.id) ?? null;
      const ageMs = beat ? Math.max(0, now - beat.at) : undefined;
      return {
        id: instance.id,
        used: instance.used,
        count: instance.count,
        reloadTimes: instance.reloadTimes,
        health: !kind.heartbeat ? 'not-monitored' : ageMs === undefined ? 'unknown' : ageMs <= this.heartbeatTimeoutMs ? 'healthy' : 'stale',
        heartbeat: beat && ageMs !== undefined ? { at: beat.at, ageMs } : null,
        pod: record?.pod ? { name: record.pod, phase: record.phase ?? 'Unknown' } : null,
        lastAction: record,
      };
    });
    return {
      resource,
      instanceName: kind.instanceName,
      heartbeat: kind.heartbeat,
      heartbeatTimeoutMs: this.heartbeatTimeoutMs,
      instances: views,
      totals: {
        instances: views.length,
        resources: views.reduce((sum, v) => sum + v.used, 0),
        capacity: views.reduce((sum, v) => sum + v.count, 0),
      },
      generatedAt: now,
    };
  }

  /**
   * Counters of every instance without their id lists: the dashboard polls
   * this, and at 500k resources the lists are megabytes it does not show.
   */
  private async summaries(resource: string): Promise<Array<InstanceSummary & { reloadTimes: number }>> {
    const ids = await this.instanceIds(resource);
    const nodes = await this.store.getMany(ids.flatMap((id) => [this.layout.instance(resource, id), this.layout.reload(resource, id)]));
    return ids.flatMap((id, i) => {
      const node = nodes[2 * i];
      if (!node) return [];
      const data = parseJson(node);
      return [{ id, used: int(data.used), count: int(data.count), reloadTimes: int(parseJson(nodes[2 * i + 1]).times) }];
    });
  }

  // ---------------------------------------------------------------- heartbeats

  /**
   * Coalesces heartbeats per instance (newest wins) and stores each with at
   * most one write; a stored time is never moved backwards, so a late or
   * redelivered batch changes nothing.
   */
  async recordHeartbeats(beats: readonly HeartbeatInput[]): Promise<{ writes: number; instances: number }> {
    const latest = new Map<string, HeartbeatInput>();
    for (const beat of beats) {
      if (!this.kinds.some((k) => k.resource === beat.resource) || !INSTANCE_ID.test(beat.instanceId)) continue;
      const key = `${beat.resource}/${beat.instanceId}`;
      const seen = latest.get(key);
      if (!seen || beat.at > seen.at) latest.set(key, beat);
    }
    await Promise.all(unique([...latest.values()].map((b) => b.resource)).map((resource) => this.prepare(resource)));
    const entries = [...latest.values()];
    const paths = entries.map((beat) => this.layout.heartbeat(beat.resource, beat.instanceId));
    const nodes = await this.store.getMany(paths);
    let writes = 0;
    await Promise.all(
      entries.map(async (beat, i) => {
        let node = nodes[i];
        const path = paths[i]!;
        const data = JSON.stringify(beat.extra ? { at: beat.at, extra: beat.extra } : { at: beat.at });
        await withRetry(async (attempt) => {
          if (attempt > 1) node = await this.store.get(path);
          if (node && int(parseJson(node).at) >= beat.at) return;
          await this.store.commit([node ? { op: 'set', path, data, version: node.version } : { op: 'create', path, data }]);
          writes++;
        }, RETRY);
      }),
    );
    return { writes, instances: entries.length };
  }

  async heartbeats(resource: string): Promise<Map<string, HeartbeatRecord>> {
    return this.readDir(resource, this.layout.heartbeatsDir(resource), (value) => {
      if (typeof value.at !== 'number') return undefined;
      return value.extra && typeof value.extra === 'object' ? { at: value.at, extra: value.extra as Record<string, unknown> } : { at: value.at };
    });
  }

  // ---------------------------------------------------------------- instance records

  async records(resource: string): Promise<Map<string, InstanceRecord>> {
    return this.readDir(resource, this.layout.recordsDir(resource), (value) =>
      typeof value.action === 'string' && typeof value.at === 'number' ? (value as unknown as InstanceRecord) : undefined,
    );
  }

  async writeRecord(resource: string, instanceId: string, record: InstanceRecord): Promise<void> {
    this.kind(resource);
    await this.prepare(resource);
    const path = this.layout.record(resource, instanceId);
    const data = JSON.stringify(record);
    await withRetry(async () => {
      const node = await this.store.get(path);
      await this.store.commit([node ? { op: 'set', path, data, version: node.version } : { op: 'create', path, data }]);
    }, RETRY);
  }

  /** Drops what we kept about an instance that no longer exists; its pod is then an orphan for reconcile. */
  private async forget(resource: string, instanceId: string): Promise<void> {
    for (const path of [this.layout.heartbeat(resource, instanceId), this.layout.record(resource, instanceId)]) {
      await this.store.commit([{ op: 'remove', path, version: ANY_VERSION }]).catch((error: unknown) => {
        if (!(isConflict(error) && error.reason === 'NoNode')) throw error;
      });
    }
  }

  // ---------------------------------------------------------------- leases

  /** Takes a named lease by compare-and-set; a holder may renew its own; an expired one may be taken over. */
  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease> {
    await this.store.ensurePath(this.layout.leasesDir());
    const path = this.layout.lease(name);
    return withRetry(async () => {
      const now = this.now();
      const expiresAt = now + ttlMs;
      const data = JSON.stringify({ holder, expiresAt });
      const node = await this.store.get(path);
      if (!node) {
        await this.store.commit([{ op: 'create', path, data }]);
        return { name, holder, expiresAt, version: 0 };
      }
      const current = parseJson(node);
      const currentHolder = typeof current.holder === 'string' ? current.holder : '?';
      const currentExpiry = int(current.expiresAt);
      if (currentHolder !== holder && currentExpiry > now) throw new LeaseHeldError(name, currentHolder, currentExpiry);
      await this.store.commit([{ op: 'set', path, data, version: node.version }]);
      return { name, holder, expiresAt, version: node.version + 1 };
    }, RETRY);
  }

  /** Releases only if still ours (same version); a lease taken over after expiry is left alone. */
  async releaseLease(lease: Lease): Promise<void> {
    try {
      await this.store.commit([{ op: 'remove', path: this.layout.lease(lease.name), version: lease.version }]);
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }

  // ---------------------------------------------------------------- internals

  private prepare(resource: string): Promise<void> {
    let ready = this.prepared.get(resource);
    if (!ready) {
      ready = Promise.all(
        [this.layout.kind(resource), this.layout.indexDir(resource), this.layout.heartbeatsDir(resource), this.layout.recordsDir(resource)].map((path) =>
          this.store.ensurePath(path),
        ),
      ).then(() => undefined);
      ready.catch(() => this.prepared.delete(resource));
      this.prepared.set(resource, ready);
    }
    return ready;
  }

  private async cached(resource: string): Promise<Map<string, Cached>> {
    if (!this.cache.has(resource)) await this.read(resource);
    return this.cache.get(resource)!;
  }

  private staleSet(resource: string): Set<string> {
    let set = this.stale.get(resource);
    if (!set) this.stale.set(resource, (set = new Set()));
    return set;
  }

  /**
   * Watches an instance's `_reload` (every list change bumps it) so a cached
   * copy that another process made stale is re-read before we write from it,
   * instead of failing a compare-and-set first. Only while another writer has
   * been seen lately (a conflict): a watch costs a notification and a re-arm
   * per write, which a lone writer would pay for nothing. Correctness never
   * depends on this (versions do); it only saves conflicts.
   */
  private watchInstance(resource: string, id: string): void {
    this.staleSet(resource).delete(id);
    if (Date.now() >= this.contendedUntil) return;
    let watched = this.watching.get(resource);
    if (!watched) this.watching.set(resource, (watched = new Set()));
    if (watched.has(id)) return;
    watched.add(id);
    this.store.watch(this.layout.reload(resource, id), () => {
      watched.delete(id);
      this.staleSet(resource).add(id);
    });
  }

  private toCached(id: string, node?: VersionedNode, resources?: VersionedNode, reload?: VersionedNode): Cached | undefined {
    if (!node || !resources || !reload) return undefined;
    const data = parseJson(node);
    const list = parseJson(resources).ids;
    const ids = Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
    return {
      state: { id, used: ids.length, count: int(data.count, int(data.used)), ids, reloadTimes: int(parseJson(reload).times) },
      versions: { node: node.version, resources: resources.version, reload: reload.version },
    };
  }

  private async refreshInstance(resource: string, id: string): Promise<Cached | undefined> {
    const [node, resources, reload] = await this.store.getMany([
      this.layout.instance(resource, id),
      this.layout.resources(resource, id),
      this.layout.reload(resource, id),
    ]);
    const cached = this.toCached(id, node, resources, reload);
    const map = this.cache.get(resource);
    if (map) {
      if (cached) map.set(id, cached);
      else map.delete(id);
    }
    if (cached) this.watchInstance(resource, id);
    return cached;
  }

  /** After a conflict: re-read just the instance that failed when the store says which, else everything. */
  private async refresh(resource: string, error: ConflictError): Promise<void> {
    const wasContended = Date.now() < this.contendedUntil;
    this.contendedUntil = Date.now() + CONTENDED_MS;
    if (!wasContended) {
      // Another writer just showed up: anything cached while unwatched may be stale. Watch it all from now on.
      for (const id of this.cache.get(resource)?.keys() ?? []) {
        this.watchInstance(resource, id);
        this.staleSet(resource).add(id);
      }
    }
    const match = error.path?.match(/^(.*)\/([0-9]+)(?:\/(?:resources|_reload|tmp))?$/);
    if (match && match[1] === this.layout.kind(resource) && error.reason === 'BadVersion') await this.refreshInstance(resource, match[2]!);
    else this.cache.delete(resource);
  }

  /**
   * Our own commit succeeded on top of `before`: cache exactly what the store
   * now has (its watch fired for our write; re-arm it). If the cache moved on
   * meanwhile (another call of this process refreshed or wrote the instance),
   * our view is not the latest: mark it stale so the next use re-reads.
   */
  private remember(resource: string, id: string, state: InstanceState, before: Cached | undefined): void {
    const map = this.cache.get(resource);
    if (!map) return;
    if (map.get(id) !== before) {
      this.staleSet(resource).add(id);
      return;
    }
    this.watchInstance(resource, id);
    map.set(id, {
      state,
      versions: before
        ? { node: before.versions.node + 1, resources: before.versions.resources + 1, reload: before.versions.reload + 1 }
        : { node: 0, resources: 0, reload: 0 },
    });
  }

  /** The three writes that change an instance's list: counters, ids and a `_reload` bump, all version-checked. */
  private updateOps(resource: string, before: Cached, after: InstanceState): WriteOp[] {
    return [
      { op: 'set', path: this.layout.instance(resource, after.id), data: encodeInstanceData(after.ids.length, after.count), version: before.versions.node },
      { op: 'set', path: this.layout.resources(resource, after.id), data: encodeResources(after.ids), version: before.versions.resources },
      { op: 'set', path: this.layout.reload(resource, after.id), data: encodeReload(before.state.reloadTimes + 1), version: before.versions.reload },
    ];
  }

  private createOps(resource: string, state: InstanceState): WriteOp[] {
    return [
      { op: 'create', path: this.layout.instance(resource, state.id), data: encodeInstanceData(state.ids.length, state.count) },
      { op: 'create', path: this.layout.tmp(resource, state.id), data: '' },
      { op: 'create', path: this.layout.reload(resource, state.id), data: encodeReload(state.reloadTimes) },
      { op: 'create', path: this.layout.resources(resource, state.id), data: encodeResources(state.ids) },
    ];
  }

  private async owners(resource: string, ids: readonly string[]): Promise<Map<string, string>> {
    const entries = await this.indexEntries(resource, ids);
    return new Map([...entries].map(([id, entry]) => [id, entry.instanceId]));
  }

  private async indexEntries(resource: string, ids: readonly string[]): Promise<Map<string, { instanceId: string; version: number }>> {
    const nodes = await this.store.getMany(ids.map((id) => this.layout.index(resource, id)));
    const entries = new Map<string, { instanceId: string; version: number }>();
    ids.forEach((id, i) => {
      const node = nodes[i];
      if (node && node.data) entries.set(id, { instanceId: node.data, version: node.version });
    });
    return entries;
  }

  private async readDir<T>(resource: string, dir: string, parse: (value: Record<string, unknown>) => T | undefined): Promise<Map<string, T>> {
    this.kind(resource);
    const names = await this.store.children(dir);
    const nodes = await this.store.getMany(names.map((name) => `${dir}/${name}`));
    const out = new Map<string, T>();
    names.forEach((name, i) => {
      const value = nodes[i] ? parse(parseJson(nodes[i])) : undefined;
      if (value !== undefined) out.set(name, value);
    });
    return out;
  }
}

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

const summarize = (instances: readonly InstanceState[]): InstanceSummary[] => instances.map(({ id, used, count }) => ({ id, used, count }));
const withCount = (state: InstanceState, count: number): InstanceState => ({ ...state, count });
