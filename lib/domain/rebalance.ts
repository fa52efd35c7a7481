/**
 * Balanced, minimal-movement rebalance (SPEC §5 "Minimal movement"): every
 * target instance ends within one of the mean, and the fewest resources
 * possible change instance, since each move makes two workers reload. Pure.
 */
import { CapacityError } from './errors.js';
import { byNumericId, type Assignment, type Move } from './orchestration.js';
import { smallestUnusedId } from './placement.js';

export interface RebalanceResult {
  /** Resource ids per target instance, in numeric instance order. */
  assignment: Map<string, string[]>;
  /** The moves that turn the current assignment into `assignment`, applied in order. */
  plan: Move[];
  /** Ids in the plan. */
  moved: number;
  /** The fewest moves any balanced assignment over `targetInstances` instances needs. */
  minimumMoves: number;
  /** New instances, in numeric order; they start empty. */
  added: string[];
  /** Instances dropped, in numeric order; the plan empties them. */
  removed: string[];
}

interface Slot {
  id: string;
  ids: readonly string[];
  quota: number;
}

/** More resources first, then the lower instance id. */
const byLoadThenId = (a: Pick<Slot, 'id' | 'ids'>, b: Pick<Slot, 'id' | 'ids'>): number =>
  b.ids.length - a.ids.length || byNumericId(a, b);

/**
 * Spreads the resources of `current` (each on at most one instance) over
 * `targetInstances` instances of `capacity` each.
 *
 * Why this is minimal: a resource stays only if its instance survives and has
 * quota left, so at most Σ min(current_i, quota_i) stay. Giving the surviving
 * slots and the larger quotas to the fullest instances maximises that sum
 * (min is monotone and supermodular), and the plan keeps exactly that many.
 */
export function rebalance(current: Assignment, targetInstances: number, capacity: number): RebalanceResult {
  if (!Number.isInteger(targetInstances) || targetInstances < 1) {
    throw new RangeError(`targetInstances must be a positive integer, got ${targetInstances}`);
  }
  // Everything on a removed instance must move, so the fullest ones survive.
  const ranked = [...current].map(([id, ids]) => ({ id, ids })).sort(byLoadThenId);
  const targets = ranked.slice(0, targetInstances).map((slot) => slot.id);
  const usedIds = ranked.map((slot) => slot.id);
  while (targets.length < targetInstances) {
    const id = smallestUnusedId(usedIds);
    usedIds.push(id);
    targets.push(id);
  }
  return rebalanceOnto(current, targets, capacity);
}

/**
 * Spreads the resources of `current` over exactly the `targets` instances
 * (existing or new), emptying every other instance: a scale-in names the
 * survivors itself (the lowest-numbered), a scale-out adds its new instances.
 * Minimal for those targets, by the argument above with the survivors fixed.
 */
export function rebalanceOnto(current: Assignment, targetIds: readonly string[], capacity: number): RebalanceResult {
  if (targetIds.length < 1 || new Set(targetIds).size !== targetIds.length) {
    throw new RangeError(`targets must be distinct instance ids, at least one, got [${targetIds.join(', ')}]`);
  }
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }
  const existing: Slot[] = [...current].map(([id, ids]) => ({ id, ids, quota: 0 }));
  const total = existing.reduce((sum, slot) => sum + slot.ids.length, 0);
  if (total > targetIds.length * capacity) {
    throw new CapacityError(Math.ceil(total / capacity), targetIds.length);
  }
  const wanted = new Set(targetIds);
  const survivors = existing.filter((slot) => wanted.has(slot.id));
  const removed = existing.filter((slot) => !wanted.has(slot.id)).sort(byNumericId);
  const added: Slot[] = targetIds.filter((id) => !current.has(id)).map((id) => ({ id, ids: [], quota: 0 }));

  const targets = [...survivors, ...added].sort(byLoadThenId);
  const floor = Math.floor(total / targets.length);
  const ceilCount = total % targets.length;
  targets.forEach((slot, rank) => {
    slot.quota = rank < ceilCount ? floor + 1 : floor;
  });
  targets.sort(byNumericId);

  const minimumMoves = total - targets.reduce((kept, slot) => kept + Math.min(slot.ids.length, slot.quota), 0);

  // Over-quota instances give up the end of their lists: the most recently placed go first.
  const sources = [
    ...removed.map((slot) => ({ id: slot.id, ids: slot.ids, from: 0 })),
    ...targets
      .filter((slot) => slot.ids.length > slot.quota)
      .map((slot) => ({ id: slot.id, ids: slot.ids, from: slot.quota })),
  ];
  const destinations = targets.filter((slot) => slot.ids.length < slot.quota);

  const plan: Move[] = [];
  const incoming = new Map<string, string[][]>();
  let sourceIndex = 0;
  for (const destination of destinations) {
    let missing = destination.quota - destination.ids.length;
    const chunks: string[][] = [];
    while (missing > 0) {
      const source = sources[sourceIndex];
      // Quotas sum to the total, so the sources hold exactly what the destinations miss.
      if (!source) throw new Error('rebalance: sources exhausted before destinations were filled');
      const take = Math.min(missing, source.ids.length - source.from);
      const ids = source.ids.slice(source.from, source.from + take);
      plan.push({ from: source.id, to: destination.id, ids });
      chunks.push(ids);
      source.from += take;
      missing -= take;
      if (source.from === source.ids.length) sourceIndex += 1;
    }
    incoming.set(destination.id, chunks);
  }

  const assignment = new Map<string, string[]>();
  for (const slot of targets) {
    const chunks = incoming.get(slot.id);
    assignment.set(
      slot.id,
      chunks ? slot.ids.concat(...chunks) : slot.ids.slice(0, Math.min(slot.ids.length, slot.quota)),
    );
  }

  return {
    assignment,
    plan,
    moved: plan.reduce((sum, move) => sum + move.ids.length, 0),
    minimumMoves,
    added: added.map((slot) => slot.id),
    removed: removed.map((slot) => slot.id),
  };
}

/**
 * The fewest moves that empty the `draining` instances: exactly their
 * resources move, each to the least-loaded of `targets` at that point (ties
 * to the lower id), and nothing else moves: balancing the survivors would
 * only make more workers reload, and a later scale-in could move the same
 * resources back. Steps per source→target pair, sources in numeric order.
 */
export function drainPlan(
  current: Assignment,
  draining: readonly string[],
  targets: readonly string[],
  capacity: number,
): Move[] {
  const loads = new Map(targets.map((id) => [id, current.get(id)?.length ?? 0]));
  const sources = [...draining].sort(byNumericId);
  const leaving = sources.reduce((sum, id) => sum + (current.get(id)?.length ?? 0), 0);
  const held = [...loads.values()].reduce((sum, load) => sum + load, 0);
  if (held + leaving > targets.length * capacity) {
    throw new CapacityError(Math.ceil((held + leaving) / capacity), targets.length);
  }
  const steps = new Map<string, { from: string; to: string; ids: string[] }>();
  for (const from of sources) {
    for (const id of current.get(from) ?? []) {
      let to: string | undefined;
      for (const [candidate, load] of loads) {
        if (load >= capacity) continue;
        const best = to === undefined ? undefined : loads.get(to)!;
        if (best === undefined || load < best || (load === best && byNumericId(candidate, to!) < 0)) to = candidate;
      }
      loads.set(to!, loads.get(to!)! + 1);
      const key = `${from}\u0000${to}`;
      const step = steps.get(key);
      if (step) step.ids.push(id);
      else steps.set(key, { from, to: to!, ids: [id] });
    }
  }
  return [...steps.values()].sort((a, b) => byNumericId(a.from, b.from) || byNumericId(a.to, b.to));
}
