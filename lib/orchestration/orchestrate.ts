/**
 * Orchestrate: re-spreads a kind over the number of instances the legacy
 * sizing rule asks for (SPEC §3), moving as few resources as possible
 * (`rebalance`), one atomic commit per move batch (see moves.ts). The derived
 * per-instance number only decides how evenly resources are spread; each
 * instance's capacity (`count`) is the configured `resourcePerInstance`, and
 * the limits are stored for placement. Pending resources count toward the
 * size and are placed last.
 *
 * It runs under a lease per kind, so two orchestrates never interleave. The
 * lease is short (Settings.orchestrateLeaseTtlMs, below the API timeout) and
 * renewed before each commit: a caller that gave up, or a Lambda that timed
 * out, stops renewing, and the next caller gets the lease within one TTL.
 */
import { planCapacity, resolveOptions } from '../domain/options.js';
import { rebalance } from '../domain/rebalance.js';
import { isConflict } from '../store/port.js';
import type { Kinds, OrchestrationContext } from './context.js';
import type { CapacityUseCase } from './capacity.js';
import type { InstanceRecordUseCase } from './instance-records.js';
import { orchestrateLease, renewalDue, type LeaseUseCase } from './leases.js';
import type { MoveUseCase } from './moves.js';
import type { PlacementUseCase } from './placement.js';
import type { InstanceSummary, Lease, OrchestrateGuard, OrchestrateOptionsInput, OrchestrateResult } from './types.js';

/** Plans tried when concurrent placements keep changing the kind under the plan. */
const ORCHESTRATE_REPLANS = 5;

export class OrchestrateUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly parts: {
      readonly leases: LeaseUseCase;
      readonly moves: MoveUseCase;
      readonly records: InstanceRecordUseCase;
      readonly capacity: CapacityUseCase;
      readonly placement: PlacementUseCase;
    },
  ) {}

  async orchestrate(
    resource: string,
    input: OrchestrateOptionsInput,
    holder: string,
    guard?: OrchestrateGuard,
  ): Promise<OrchestrateResult> {
    const kind = this.kinds.get(resource);
    const options = resolveOptions(input, { initInstances: kind.initInstances });
    const { repository, settings, clock, logger } = this.context;
    await repository.prepare(resource);
    let lease: Lease = await this.parts.leases.acquireLease(
      orchestrateLease(resource),
      holder,
      settings.orchestrateLeaseTtlMs,
    );
    /** Renews once a third of the TTL is used: the lease never lapses while we still commit. */
    const keepLease = async (): Promise<void> => {
      if (renewalDue(lease, clock())) lease = await this.parts.leases.renewLease(lease);
    };
    try {
      let current = await repository.read(resource);
      const before = summarize(current);
      let movedBeforeReplan = 0;
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1) current = await repository.read(resource);
        const state = current.map((c) => c.state);
        const assigned = state.reduce((sum, instance) => sum + instance.used, 0);
        const waiting = (await this.parts.capacity.pendingIds(resource)).length;
        const { instances, resourcePerInstance: spread } = planCapacity(assigned + waiting, options);
        const capacity = options.resourcePerInstance;
        await guard?.({ current: state.length, instances });
        const plan = rebalance(new Map(state.map((s) => [s.id, s.ids])), instances, spread);
        let moved = 0;
        try {
          await keepLease();
          await this.parts.capacity.setLimits(resource, {
            maxInstances: options.maxInstances,
            resourcePerInstance: capacity,
          });
          await this.parts.moves.openInstances(resource, plan.added, capacity);
          await this.parts.moves.applyMoves(resource, plan.plan, {
            capacity,
            beforeCommit: keepLease,
            onCommitted: (ids) => (moved += ids),
          });
          await keepLease();
          const kept = (await repository.read(resource)).filter((c) => !plan.removed.includes(c.state.id));
          await this.parts.moves.setCapacity(resource, kept, capacity);
          for (const id of plan.removed) {
            await keepLease();
            if (await this.parts.moves.closeInstance(resource, id)) await this.parts.records.forget(resource, id);
          }
        } catch (error) {
          movedBeforeReplan += moved;
          if (!isConflict(error) || attempt >= ORCHESTRATE_REPLANS) throw error;
          logger.warn(
            { resource, attempt, reason: error.message },
            'orchestrate raced a concurrent write; re-planning',
          );
          continue;
        }
        repository.invalidate(resource);
        const placedPending = waiting > 0 ? (await this.parts.placement.placePending(resource)).assigned.length : 0;
        const after = summarize(await repository.read(resource));
        logger.debug(
          { resource, instances, capacity, spread, moved, placedPending, replans: attempt - 1 },
          'orchestrated',
        );
        return {
          resource,
          instances,
          resourcePerInstance: capacity,
          spreadPerInstance: spread,
          placedPending,
          before,
          after,
          moved: plan.moved,
          minimumMoves: plan.minimumMoves,
          plan: plan.plan,
          replans: attempt - 1,
          movedBeforeReplan,
        };
      }
    } finally {
      await this.parts.leases.releaseLease(lease);
    }
  }
}

const summarize = (instances: ReadonlyArray<{ state: InstanceSummary }>): InstanceSummary[] =>
  instances.map(({ state: { id, used, count } }) => ({ id, used, count }));
