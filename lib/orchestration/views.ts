/**
 * Read-only views: the orchestration as the API and the dashboard show it,
 * the instances of a kind, and "which instance runs X" (one index read at any
 * scale).
 */
import { assertResourceIds } from '../domain/resource-id.js';
import type { Kinds, OrchestrationContext } from './context.js';
import type { CapacityUseCase } from './capacity.js';
import type { HeartbeatUseCase } from './heartbeats.js';
import { healthOf, observedPod } from './instance-status.js';
import type { InstanceRecordUseCase } from './instance-records.js';
import { isDraining } from '../domain/placement.js';
import { resolveScaling } from '../config/scaling.js';
import type { CatalogCheckUseCase } from './catalog-check.js';
import type { ScalingUseCase } from './scaling.js';
import type { InstanceState, InstanceView, OrchestrationView, ScalingState, ScalingView } from './types.js';

/** Pending ids a view lists; the total is always given. */
const PENDING_SHOWN = 100;

export class ViewUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly parts: {
      readonly heartbeats: HeartbeatUseCase;
      readonly records: InstanceRecordUseCase;
      readonly capacity: CapacityUseCase;
      readonly scaling: ScalingUseCase;
      readonly catalog: CatalogCheckUseCase;
    },
  ) {}

  /** The orchestration of a kind, fresh from the store (and refreshes this process's cache). */
  async read(resource: string): Promise<InstanceState[]> {
    this.kinds.get(resource);
    return (await this.context.repository.read(resource)).map((cached) => cached.state);
  }

  /** The kind's instance ids without their lists: what reconcile needs, one cheap read at any scale. */
  async instanceIds(resource: string): Promise<string[]> {
    this.kinds.get(resource);
    return this.context.repository.instanceIds(resource);
  }

  async locate(resource: string, id: string): Promise<string | undefined> {
    this.kinds.get(resource);
    assertResourceIds([id]);
    return this.context.repository.owner(resource, id);
  }

  async describe(resource: string): Promise<OrchestrationView> {
    const kind = this.kinds.get(resource);
    const { repository, clock, settings } = this.context;
    const [instances, heartbeats, records, limits, pending, scaling, lastPass, request] = await Promise.all([
      repository.counters(resource),
      this.parts.heartbeats.heartbeats(resource),
      this.parts.records.records(resource),
      this.parts.capacity.limits(resource),
      this.parts.capacity.pendingIds(resource),
      this.parts.scaling.scalingState(resource),
      this.parts.catalog.lastCatalogPass(resource),
      this.parts.catalog.pendingRequest(resource),
    ]);
    const usage = scaling.lastRun?.usage ?? {};
    const now = clock();
    const views: InstanceView[] = instances.map((instance) => {
      const beat = heartbeats.get(instance.id);
      const record = records.get(instance.id) ?? null;
      const ageMs = beat ? Math.max(0, now - beat.at) : undefined;
      return {
        id: instance.id,
        used: instance.used,
        count: instance.count,
        reloadTimes: instance.reloadTimes,
        health: healthOf(kind.heartbeat, ageMs, settings.heartbeatTimeoutMs),
        heartbeat: beat && ageMs !== undefined ? { at: beat.at, ageMs } : null,
        pod: observedPod(record ?? undefined, beat),
        lastAction: record,
        restarts: record?.restarts ?? 0,
        backoff: record?.backoff
          ? {
              streak: record.backoff.streak,
              delayMs: record.backoff.delayMs,
              until: record.backoff.until,
              // Healthy since the restart: nothing waits, whatever `until` says.
              waiting: now < record.backoff.until && record.backoff.healthySince === undefined,
              healthySince: record.backoff.healthySince ?? null,
            }
          : null,
        draining: isDraining(instance),
        usage: usage[instance.id] ?? null,
      };
    });
    return {
      resource,
      instanceName: kind.instanceName,
      heartbeat: kind.heartbeat,
      heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
      instances: views,
      totals: {
        instances: views.length,
        resources: views.reduce((sum, v) => sum + v.used, 0),
        capacity: views.reduce((sum, v) => sum + v.count, 0),
        pending: pending.length,
      },
      limits,
      pending: pending.slice(0, PENDING_SHOWN),
      scaling: scalingView(
        kind.scaling?.enabled === true && resolveScaling(kind.scaling).enabled,
        scaling,
        views,
        pending.length,
      ),
      catalog: { lastPass: lastPass ?? null, requestedAt: request?.at ?? null },
      generatedAt: now,
    };
  }
}

function scalingView(
  enabled: boolean,
  state: ScalingState,
  instances: readonly InstanceView[],
  pending: number,
): ScalingView {
  const current = instances.filter((instance) => !instance.draining).length;
  const { lastDecision, lastRun, rebalance } = state;
  return {
    enabled,
    current,
    desired: lastRun?.desired ?? current,
    draining: instances.filter((instance) => instance.draining).map((instance) => instance.id),
    warming: state.warming ?? [],
    pending,
    lastDecision: lastDecision
      ? { at: lastDecision.at, from: lastDecision.from, to: lastDecision.to, reason: lastDecision.reason }
      : null,
    lastRun: lastRun ? { at: lastRun.at, reason: lastRun.reason } : null,
    moves: rebalance ? { since: rebalance.since, moved: rebalance.moved, remaining: rebalance.remaining } : null,
  };
}
