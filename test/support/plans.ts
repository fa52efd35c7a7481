/**
 * Checks on a rebalance result, for the tests and bench/: replaying its plan
 * and counting the resources that changed instance. Nothing in the product
 * calls them.
 */
import type { Assignment, Move } from '../../lib/domain/orchestration.js';

/**
 * The assignment after the plan's moves, step by step. A destination missing
 * from `current` is created; instances are never dropped, so a rebalance's
 * `removed` instances remain, empty, for the caller to delete.
 * Throws if a step moves an id that is not on its source at that point.
 */
export function applyPlan(current: Assignment, plan: readonly Move[]): Map<string, string[]> {
  const result = new Map<string, string[]>([...current].map(([id, ids]) => [id, [...ids]]));
  for (const move of plan) {
    const leaving = new Set(move.ids);
    const before = result.get(move.from) ?? [];
    const after = before.filter((id) => !leaving.has(id));
    if (before.length - after.length !== leaving.size || leaving.size !== move.ids.length) {
      throw new Error(`plan step ${move.from} -> ${move.to} moves ids that are not on ${move.from}`);
    }
    result.set(move.from, after);
    result.set(move.to, [...(result.get(move.to) ?? []), ...move.ids]);
  }
  return result;
}

/** Resources on a different instance after than before; ones absent on either side do not count. */
export function countMoves(before: Assignment, after: Assignment): number {
  const instanceOf = new Map<string, string>();
  for (const [instanceId, ids] of before) for (const id of ids) instanceOf.set(id, instanceId);
  let moves = 0;
  for (const [instanceId, ids] of after) {
    for (const id of ids) {
      const was = instanceOf.get(id);
      if (was !== undefined && was !== instanceId) moves += 1;
    }
  }
  return moves;
}
