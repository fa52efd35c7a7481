/**
 * A kind's capacity limits and its pending resources (SPEC §3, changed from
 * legacy): `count` is the configured `resourcePerInstance`, a new instance is
 * opened only below the stored `maxInstances`, and a resource that finds the
 * kind at its maximum is kept as pending (a node of its own), never dropped.
 * The first pending resource raises one `capacity-exhausted` alert; the
 * marker node that records it goes once nothing is pending any more.
 */
import type { AlertPublisher } from '../alerts.js';
import { LEGACY_LIMITS } from '../domain/options.js';
import { chunks, type Kinds, type OrchestrationContext } from './context.js';
import { decodeName } from './layout.js';
import { IDS_PER_MULTI } from './placement.js';
import { createInFolder, isNodeExists, type VersionedNode } from '../store/port.js';
import { KindCapacitySchema, parseNode, ScalingStateSchema } from './stored.js';

export interface KindLimits {
  readonly maxInstances: number;
  readonly resourcePerInstance: number;
}

interface KindCapacityState {
  limits: KindLimits;
  pendingMarker: boolean;
  /** Instances a scale-out opened whose worker does not serve yet (the scaling node's `warming`). */
  warming: ReadonlySet<string>;
  readAt: number;
}

/** How long this process trusts its cached limits, pending marker and warming instances; they change rarely. */
const LIMITS_CACHE_MS = 5_000;

export class CapacityUseCase {
  private readonly cached = new Map<string, KindCapacityState>();

  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly alerts: AlertPublisher,
  ) {}

  /** The kind's limits: stored by the last orchestrate, else its scaling maximum and the legacy capacity. */
  async limits(resource: string): Promise<KindLimits> {
    return (await this.state(resource)).limits;
  }

  /** Instances placement avoids while any other has room: their workers are still starting. */
  async warming(resource: string): Promise<ReadonlySet<string>> {
    return (await this.state(resource)).warming;
  }

  /** What this process just stored as warming; other processes see it within LIMITS_CACHE_MS. */
  rememberWarming(resource: string, ids: readonly string[]): void {
    const entry = this.cached.get(resource);
    if (entry) entry.warming = new Set(ids);
  }

  async setLimits(resource: string, limits: KindLimits): Promise<void> {
    const { repository, clock } = this.context;
    await repository.put(repository.layout.capacity(resource), JSON.stringify(KindCapacitySchema.parse(limits)));
    const entry = this.cached.get(resource);
    this.cached.set(resource, {
      limits,
      pendingMarker: entry?.pendingMarker ?? true,
      warming: entry?.warming ?? new Set(),
      readAt: clock(),
    });
  }

  /** Keeps ids that found no room; raises the alert when the kind just ran out. Ids already pending stay so. */
  async keepPending(resource: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { store, repository, clock, logger } = this.context;
    const { layout } = repository;
    // One multi per IDS_PER_MULTI new ids; a chunk holding an id already pending (a redelivery) falls back
    // to one create each. Assigning 10,000 ids to a full kind took 1.4-2.3 s with a create per id, 0.25-0.9 s
    // with multis (local ZooKeeper, three rounds each).
    for (const chunk of chunks(ids, IDS_PER_MULTI)) {
      const creates = chunk.map((id) => ({ op: 'create' as const, path: layout.pending(resource, id), data: '' }));
      try {
        await createInFolder(store, layout.pendingDir(resource), creates);
      } catch (error) {
        if (!isNodeExists(error)) throw error;
        await Promise.all(creates.map(({ path }) => repository.createIfAbsent(path, '')));
      }
    }
    const limits = await this.limits(resource);
    const raised = await repository.createIfAbsent(
      layout.capacityExhausted(resource),
      JSON.stringify({ since: clock() }),
    );
    const entry = this.cached.get(resource);
    if (entry) entry.pendingMarker = true;
    logger.warn(
      { resource, pending: ids.length, maxInstances: limits.maxInstances },
      `${resource} is at its maximum of ${limits.maxInstances} instances: resources kept pending`,
    );
    if (raised) {
      await this.alerts.publish([
        {
          type: 'capacity-exhausted',
          resource,
          maxInstances: limits.maxInstances,
          resourcePerInstance: limits.resourcePerInstance,
          pending: ids.length,
          at: clock(),
        },
      ]);
    }
  }

  /** Pending resource ids of a kind, sorted. */
  async pendingIds(resource: string): Promise<string[]> {
    this.kinds.get(resource);
    return (await this.context.store.children(this.context.repository.layout.pendingDir(resource))).map(decodeName);
  }

  /**
   * Drops the pending nodes of ids that are placed or deleted now; the marker
   * goes with the last one. Nothing to do (no I/O) while the cached marker
   * says nothing is pending, the common case on the placement path.
   */
  async settle(resource: string, ids: readonly string[]): Promise<void> {
    if (!(await this.state(resource)).pendingMarker) return;
    const { repository } = this.context;
    const { layout } = repository;
    await repository.removeIfPresent(ids.map((id) => layout.pending(resource, id)));
    if ((await this.context.store.children(layout.pendingDir(resource))).length > 0) return;
    await repository.removeIfPresent([layout.capacityExhausted(resource)]);
    const entry = this.cached.get(resource);
    if (entry) entry.pendingMarker = false;
  }

  private async state(resource: string): Promise<KindCapacityState> {
    const { store, repository, clock } = this.context;
    const entry = this.cached.get(resource);
    if (entry && clock() - entry.readAt < LIMITS_CACHE_MS) return entry;
    const kind = this.kinds.get(resource);
    const [node, marker, scaling] = await store.getMany([
      repository.layout.capacity(resource),
      repository.layout.capacityExhausted(resource),
      repository.layout.scaling(resource),
    ]);
    const limits: KindLimits = node
      ? parseNode(KindCapacitySchema, node)
      : {
          maxInstances: kind.scaling?.maxInstances ?? LEGACY_LIMITS.maxInstances.default,
          resourcePerInstance: LEGACY_LIMITS.resourcePerInstance.default,
        };
    const fresh = { limits, pendingMarker: marker !== undefined, warming: warmingIn(scaling), readAt: clock() };
    this.cached.set(resource, fresh);
    return fresh;
  }
}

/**
 * The warming instances of a scaling node. Only a preference: a node that
 * cannot be read must not stop placements, so it counts as none warming.
 */
function warmingIn(node: VersionedNode | undefined): ReadonlySet<string> {
  if (!node) return new Set();
  try {
    return new Set(parseNode(ScalingStateSchema, node).warming ?? []);
  } catch {
    return new Set();
  }
}
