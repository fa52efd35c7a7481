/**
 * Carrying out elastic scaling in the store (SPEC §5). Reconcile decides with
 * the pure `decideScale` (lib/reconcile/autoscale.ts); this module does what
 * it decided, each step safe to repeat and to crash in:
 * - open: new empty instances with the kind's capacity (their workers start
 *   in the same reconcile run);
 * - drain: mark instances draining (capacity 0, on their own node, so the mark
 *   is as durable as the list and placement finds no room there), or back;
 * - rebalance wave: a drain moves exactly the draining instances' resources,
 *   a scale-out the minimal balancing set, only towards instances whose
 *   worker serves, at most `maxMoves` ids, each source→target batch one
 *   atomic commit (MoveUseCase);
 * - close: remove a drained, empty instance.
 * Reconcile runs these under the kind's orchestrate lease, so a scale never
 * interleaves with a user's orchestrate (which ends any drain: it sets every
 * instance's capacity).
 */
import { CapacityError } from '../domain/errors.js';
import type { Move } from '../domain/orchestration.js';
import { DRAINING_COUNT, isDraining, smallestUnusedId } from '../domain/placement.js';
import { drainPlan, rebalanceOnto } from '../domain/rebalance.js';
import { isConflict, withRetry } from '../store/port.js';
import type { CapacityUseCase } from './capacity.js';
import { STORE_RETRY, type Kinds, type OrchestrationContext } from './context.js';
import type { InstanceRecordUseCase } from './instance-records.js';
import type { MoveUseCase } from './moves.js';
import { ScalingStateSchema, parseNode, type ScalingState } from './stored.js';
import type { ScalingInstance, ScalingSnapshot, WaveOptions, WaveResult } from './types.js';

/** Plans a wave may drop to a concurrent write (a cm/notify placing or removing) before it gives up for this run. */
const WAVE_REPLANS = 3;

export const EMPTY_SCALING_STATE: ScalingState = { history: [] };

/** Thrown from inside a wave when the caller says stop (its lease is nearly spent). */
class WaveStopped extends Error {}

export class ScalingUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly parts: {
      readonly moves: MoveUseCase;
      readonly capacity: CapacityUseCase;
      readonly records: InstanceRecordUseCase;
    },
  ) {}

  /** The stored scaling state and every instance's counters, draining ones marked. */
  async scalingSnapshot(resource: string): Promise<ScalingSnapshot> {
    this.kinds.get(resource);
    const [state, counters, limits] = await Promise.all([
      this.scalingState(resource),
      this.context.repository.counters(resource),
      this.parts.capacity.limits(resource),
    ]);
    const instances: ScalingInstance[] = counters.map(({ id, used, count }) => ({
      id,
      used,
      count,
      draining: isDraining({ count }),
    }));
    return { state, instances, resourcePerInstance: limits.resourcePerInstance };
  }

  /** The stored state; empty before the first run. */
  async scalingState(resource: string): Promise<ScalingState> {
    const { repository, store } = this.context;
    const node = await store.get(repository.layout.scaling(resource));
    return node ? parseNode(ScalingStateSchema, node) : EMPTY_SCALING_STATE;
  }

  async saveScalingState(resource: string, state: ScalingState): Promise<void> {
    this.kinds.get(resource);
    const { repository } = this.context;
    await repository.prepare(resource);
    await repository.put(repository.layout.scaling(resource), JSON.stringify(ScalingStateSchema.parse(state)));
    this.parts.capacity.rememberWarming(resource, state.warming ?? []);
  }

  /** Opens `count` empty instances with the smallest unused ids; a racing create of the same id picks the next. */
  async openInstances(resource: string, count: number): Promise<string[]> {
    this.kinds.get(resource);
    const { repository } = this.context;
    const { resourcePerInstance } = await this.parts.capacity.limits(resource);
    const opened: string[] = [];
    for (let n = 0; n < count; n++) {
      const id = await withRetry(async () => {
        const taken = await repository.instanceIds(resource);
        const next = smallestUnusedId(taken);
        await this.parts.moves.openInstances(resource, [next], resourcePerInstance);
        return next;
      }, STORE_RETRY);
      opened.push(id);
    }
    return opened;
  }

  /** Marks instances draining (no new placements; the waves empty them), or back to the kind's capacity. */
  async setDraining(resource: string, ids: readonly string[], draining: boolean): Promise<void> {
    this.kinds.get(resource);
    const { repository } = this.context;
    const { resourcePerInstance } = await this.parts.capacity.limits(resource);
    for (const id of ids) {
      await withRetry(async () => {
        const instance = await repository.refreshInstance(resource, id);
        if (!instance) return;
        const count = draining ? DRAINING_COUNT : Math.max(resourcePerInstance, instance.state.used);
        if (instance.state.count === count) return;
        await repository.commit(resource, repository.writes.countOps(resource, instance, count));
      }, STORE_RETRY);
      repository.invalidate(resource, id);
    }
  }

  /**
   * One wave of the minimal re-orchestration: while draining instances hold
   * resources, exactly those move, to the least-loaded serving instances
   * (drainPlan); otherwise the minimal balancing plan onto the non-draining
   * instances (after a scale-out), its moves towards serving targets only. In
   * plan order, at most `maxMoves` ids; a concurrent write re-plans from
   * fresh state.
   */
  async rebalanceWave(resource: string, options: WaveOptions): Promise<WaveResult> {
    this.kinds.get(resource);
    const { repository, logger } = this.context;
    const { resourcePerInstance } = await this.parts.capacity.limits(resource);
    let moved = 0;
    let minimumMoves: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const states = (await repository.read(resource)).map((cached) => cached.state);
      const assignment = new Map(states.map((s) => [s.id, s.ids]));
      const targets = states.filter((state) => !isDraining(state)).map((state) => state.id);
      const draining = states.filter((state) => isDraining(state) && state.used > 0).map((state) => state.id);
      const onDraining = states.filter(isDraining).reduce((sum, state) => sum + state.used, 0);
      let plan: { steps: readonly Move[]; moves: number; minimumMoves: number };
      try {
        if (draining.length > 0) {
          const serving = targets.filter((id) => options.ready.has(id));
          const steps = serving.length > 0 ? drainPlan(assignment, draining, serving, resourcePerInstance) : [];
          plan = { steps, moves: onDraining, minimumMoves: onDraining };
        } else if (targets.length > 0) {
          const balanced = rebalanceOnto(assignment, targets, resourcePerInstance);
          const steps = balanced.plan.filter((step) => options.ready.has(step.to));
          plan = { steps, moves: balanced.moved, minimumMoves: balanced.minimumMoves };
        } else {
          plan = { steps: [], moves: 0, minimumMoves: 0 };
        }
      } catch (error) {
        if (!(error instanceof CapacityError)) throw error;
        logger.warn({ resource, err: error }, 'the serving instances cannot hold every resource: no moves this run');
        return { moved, minimumMoves: minimumMoves ?? 0, remaining: onDraining };
      }
      minimumMoves ??= plan.minimumMoves;
      let movedNow = 0;
      try {
        await this.parts.moves.applyMoves(resource, firstIds(plan.steps, options.maxMoves - moved), {
          beforeCommit: async () => {
            if (!(await options.shouldContinue())) throw new WaveStopped();
          },
          onCommitted: (ids) => {
            movedNow += ids;
            moved += ids;
          },
        });
      } catch (error) {
        if (error instanceof WaveStopped) return { moved, minimumMoves, remaining: plan.moves - movedNow };
        if (!isConflict(error) || attempt >= WAVE_REPLANS) throw error;
        logger.info(
          { resource, attempt, reason: error.message },
          'scaling moves raced a concurrent write; re-planning',
        );
        continue;
      }
      return { moved, minimumMoves, remaining: plan.moves - movedNow };
    }
  }

  /** Removes a drained instance's nodes and what was kept about it; false when it is gone or not empty. */
  async closeDrained(resource: string, id: string): Promise<boolean> {
    this.kinds.get(resource);
    const instance = await this.context.repository.refreshInstance(resource, id);
    if (!instance || instance.state.used > 0 || !isDraining(instance.state)) return false;
    const closed = await this.parts.moves.closeInstance(resource, id);
    if (closed) await this.parts.records.forget(resource, id);
    return closed;
  }
}

/** The steps cut to their first `budget` ids, in order. */
function firstIds(steps: readonly Move[], budget: number): Move[] {
  const out: Move[] = [];
  let left = Math.max(0, budget);
  for (const step of steps) {
    if (left === 0) break;
    const ids = step.ids.length <= left ? step.ids : step.ids.slice(0, left);
    out.push(ids === step.ids ? step : { ...step, ids });
    left -= ids.length;
  }
  return out;
}
