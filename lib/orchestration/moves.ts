/**
 * Moving resources between instances: the building block of orchestrate,
 * scale-out and drains. Each source→target batch is one atomic commit (both
 * lists, both counters, both `_reload` bumps and the moved ids' index
 * entries), so at every instant each resource is in exactly one list, and a
 * run that stops half-way leaves a consistent orchestration behind.
 */
import { newInstance, withAdded, withRemoved } from '../domain/placement.js';
import type { InstanceState, Move } from '../domain/orchestration.js';
import { ConflictError, type WriteOp } from '../store/port.js';
import { chunks, type OrchestrationContext } from './context.js';
import { IDS_PER_MULTI } from './placement.js';
import type { CachedInstance } from './repository.js';

/** Ids per move commit: two lists and their index entries stay well under ZooKeeper's 1 MB request limit. */
export const IDS_PER_MOVE = IDS_PER_MULTI * 2;

export interface MoveOptions {
  /** Capacity (`count`) both instances are written with; default: each keeps its own, raised if the target must hold more. */
  readonly capacity?: number;
  /** Called before each commit, e.g. to renew the lease the moves run under. */
  readonly beforeCommit?: () => Promise<void>;
  /** Called after each commit with the number of ids it moved (progress survives a later failure). */
  readonly onCommitted?: (ids: number) => void;
}

export class MoveUseCase {
  constructor(private readonly context: OrchestrationContext) {}

  /** Applies the steps in order, reporting progress through `onCommitted`. */
  async applyMoves(resource: string, steps: readonly Move[], options: MoveOptions = {}): Promise<void> {
    for (const step of steps) {
      for (const ids of chunks(step.ids, IDS_PER_MOVE)) {
        await options.beforeCommit?.();
        await this.moveBatch(resource, { from: step.from, to: step.to, ids }, options.capacity);
        options.onCommitted?.(ids.length);
      }
    }
  }

  /** Opens empty instances with the given capacity (their workers start on the next reconcile). */
  async openInstances(resource: string, ids: readonly string[], capacity: number): Promise<void> {
    const { repository } = this.context;
    for (const id of ids) {
      const state = newInstance(id, capacity);
      await repository.commit(resource, repository.writes.createOps(resource, state), [
        { before: undefined, after: state },
      ]);
    }
    if (ids.length > 0) await repository.read(resource);
  }

  /** Removes an empty instance's nodes; one that received resources meanwhile makes this a conflict. */
  async closeInstance(resource: string, id: string): Promise<boolean> {
    const { repository } = this.context;
    const gone = await repository.instance(resource, id);
    if (!gone) return false;
    if (gone.state.used > 0)
      throw new ConflictError(
        'BadVersion',
        repository.layout.instance(resource, id),
        `instance ${id} received resources while being removed`,
      );
    await repository.commit(resource, repository.writes.removeOps(resource, gone));
    repository.invalidate(resource, id);
    return true;
  }

  /** Sets `count` on every listed instance whose count differs and that holds no more than it. */
  async setCapacity(resource: string, instances: readonly CachedInstance[], capacity: number): Promise<void> {
    const { repository } = this.context;
    for (const instance of instances) {
      if (instance.state.count === capacity || instance.state.used > capacity) continue;
      await repository.commit(resource, repository.writes.countOps(resource, instance, capacity));
    }
    repository.invalidate(resource);
  }

  private async moveBatch(resource: string, step: Move, capacity: number | undefined): Promise<void> {
    const { repository } = this.context;
    const from = await repository.instance(resource, step.from);
    const to = await repository.instance(resource, step.to);
    if (!from || !to)
      throw new ConflictError('NoNode', repository.layout.instance(resource, from ? step.to : step.from));
    const fromAfter = withCount(withRemoved(from.state, step.ids), capacity ?? from.state.count);
    const toAfter = withAdded(
      withCount(to.state, Math.max(capacity ?? to.state.count, to.state.used + step.ids.length)),
      step.ids,
    );
    const ops: WriteOp[] = [
      ...repository.writes.updateOps(resource, from, fromAfter),
      ...repository.writes.updateOps(resource, to, toAfter),
    ];
    for (const id of step.ids) ops.push(repository.writes.indexMoveOp(resource, id, step.to));
    await repository.commit(resource, ops, [
      { before: from, after: fromAfter },
      { before: to, after: toAfter },
    ]);
  }
}

const withCount = (state: InstanceState, count: number): InstanceState => ({ ...state, count });
