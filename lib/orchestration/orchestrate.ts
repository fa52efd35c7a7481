/**
 * Orchestrate: re-spreads a kind over the number of instances the legacy
 * sizing rule asks for (SPEC §3), moving as few resources as possible
 * (`rebalance`), one atomic commit per move batch (see moves.ts).
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
import type { InstanceRecordUseCase } from './instance-records.js';
import type { LeaseUseCase } from './leases.js';
import type { MoveUseCase } from './moves.js';
import type { InstanceSummary, Lease, OrchestrateOptionsInput, OrchestrateResult } from './types.js';

/** Plans tried when concurrent placements keep changing the kind under the plan. */
const ORCHESTRATE_REPLANS = 5;

export class OrchestrateUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly leases: LeaseUseCase,
    private readonly moves: MoveUseCase,
    private readonly records: InstanceRecordUseCase,
  ) {}

  async orchestrate(resource: string, input: OrchestrateOptionsInput, holder: string): Promise<OrchestrateResult> {
    const kind = this.kinds.get(resource);
    const options = resolveOptions(input, { initInstances: kind.initInstances });
    const { repository, settings, clock, logger } = this.context;
    await repository.prepare(resource);
    let lease: Lease = await this.leases.acquireLease(`orchestrate-${resource}`, holder, settings.orchestrateLeaseTtlMs);
    /** Renews once a third of the TTL is used: the lease never lapses while we still commit. */
    const keepLease = async (): Promise<void> => {
      if (clock() >= lease.expiresAt - (lease.ttlMs * 2) / 3) lease = await this.leases.renewLease(lease);
    };
    try {
      let current = await repository.read(resource);
      const before = summarize(current);
      let movedBeforeReplan = 0;
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1) current = await repository.read(resource);
        const state = current.map((c) => c.state);
        const total = state.reduce((sum, instance) => sum + instance.used, 0);
        const { instances, resourcePerInstance } = planCapacity(total, options);
        const plan = rebalance(new Map(state.map((s) => [s.id, s.ids])), instances, resourcePerInstance);
        let moved = 0;
        try {
          await keepLease();
          await this.moves.openInstances(resource, plan.added, resourcePerInstance);
          await this.moves.applyMoves(resource, plan.plan, {
            capacity: resourcePerInstance,
            beforeCommit: keepLease,
            onCommitted: (ids) => (moved += ids),
          });
          await keepLease();
          const kept = (await repository.read(resource)).filter((c) => !plan.removed.includes(c.state.id));
          await this.moves.setCapacity(resource, kept, resourcePerInstance);
          for (const id of plan.removed) {
            await keepLease();
            if (await this.moves.closeInstance(resource, id)) await this.records.forget(resource, id);
          }
        } catch (error) {
          movedBeforeReplan += moved;
          if (!isConflict(error) || attempt >= ORCHESTRATE_REPLANS) throw error;
          logger.warn({ resource, attempt, reason: error.message }, 'orchestrate raced a concurrent write; re-planning');
          continue;
        }
        repository.invalidate(resource);
        const after = summarize(await repository.read(resource));
        logger.debug({ resource, instances, resourcePerInstance, moved, replans: attempt - 1 }, 'orchestrated');
        return {
          resource,
          instances,
          resourcePerInstance,
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
      await this.leases.releaseLease(lease);
    }
  }
}

const summarize = (instances: ReadonlyArray<{ state: InstanceSummary }>): InstanceSummary[] =>
  instances.map(({ state: { id, used, count } }) => ({ id, used, count }));
