/**
 * Property tests: a pure model of one resource kind driven by random
 * place / remove / rebalance sequences, and rebalance checked against a
 * brute-force minimum on small inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CapacityError } from '../../../lib/domain/errors.js';
import type { Assignment, InstanceState } from '../../../lib/domain/orchestration.js';
import { choosePlacement, newInstance, withAdded, withRemoved } from '../../../lib/domain/placement.js';
import { drainPlan, rebalance, rebalanceOnto, type RebalanceResult } from '../../../lib/domain/rebalance.js';
import { applyPlan, countMoves } from '../../support/plans.js';

const RESOURCE_POOL = 30;
const MAX_INSTANCES = 6;
const resourceId = (index: number): string => `r${index}`;

/**
 * The most resources that can stay put when `current` is spread over `targets`
 * balanced instances, by trying every set of surviving instances and every
 * choice of which target instances take one extra.
 */
function bruteForceMaxKept(current: Assignment, targets: number): number {
  const loads = [...current.values()].map((ids) => ids.length);
  const total = loads.reduce((sum, load) => sum + load, 0);
  const floor = Math.floor(total / targets);
  const extras = total % targets;
  const bitCount = (mask: number): number => mask.toString(2).replaceAll('0', '').length;
  let best = 0;
  for (let survivorMask = 0; survivorMask < 1 << loads.length; survivorMask += 1) {
    if (bitCount(survivorMask) > targets) continue;
    const slots = loads.filter((_, i) => survivorMask & (1 << i));
    while (slots.length < targets) slots.push(0);
    for (let extraMask = 0; extraMask < 1 << targets; extraMask += 1) {
      if (bitCount(extraMask) !== extras) continue;
      const kept = slots.reduce((sum, load, i) => sum + Math.min(load, floor + (extraMask & (1 << i) ? 1 : 0)), 0);
      best = Math.max(best, kept);
    }
  }
  return best;
}

/** What applying the plan and then creating `added` and deleting `removed` gives. */
function reshaped(current: Assignment, result: RebalanceResult): Map<string, string[]> {
  const after = applyPlan(current, result.plan);
  for (const id of result.removed) {
    expect(after.get(id) ?? []).toEqual([]);
    after.delete(id);
  }
  for (const id of result.added) if (!after.has(id)) after.set(id, []);
  return new Map([...result.assignment.keys()].map((id) => [id, after.get(id) ?? []]));
}

/** The brute force is exponential in the instances, so only small inputs get it. */
function expectRebalanceContract(current: Assignment, targets: number, result: RebalanceResult): void {
  const total = [...current.values()].reduce((sum, ids) => sum + ids.length, 0);
  const sizes = [...result.assignment.values()].map((ids) => ids.length);
  expect(sizes).toHaveLength(targets);
  for (const size of sizes) {
    expect(size).toBeGreaterThanOrEqual(Math.floor(total / targets));
    expect(size).toBeLessThanOrEqual(Math.ceil(total / targets));
  }
  expect(reshaped(current, result)).toEqual(result.assignment);
  expect(result.moved).toBe(result.plan.reduce((sum, move) => sum + move.ids.length, 0));
  expect(result.moved).toBe(countMoves(current, result.assignment));
  expect(result.moved).toBe(result.minimumMoves);
  if (current.size <= MAX_INSTANCES) {
    expect(result.minimumMoves).toBe(total - bruteForceMaxKept(current, targets));
  }
  // Kept ids keep their order: a list is cut at its end, or grows at its end.
  for (const [id, after] of result.assignment) {
    const before = current.get(id) ?? [];
    const common = Math.min(before.length, after.length);
    expect(after.slice(0, common)).toEqual(before.slice(0, common));
  }
}

const arbitraryAssignment: fc.Arbitrary<Assignment> = fc
  .record({
    instanceIds: fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { maxLength: MAX_INSTANCES }),
    resources: fc.uniqueArray(fc.integer({ min: 0, max: RESOURCE_POOL - 1 }), { maxLength: RESOURCE_POOL }),
    picks: fc.array(fc.nat(), { minLength: RESOURCE_POOL, maxLength: RESOURCE_POOL }),
  })
  .map(({ instanceIds, resources, picks }) => {
    const lists = new Map<string, string[]>(instanceIds.map((id) => [String(id), []]));
    const keys = [...lists.keys()];
    if (keys.length === 0) return lists;
    resources.forEach((resource, i) => {
      lists.get(keys[(picks[i] ?? 0) % keys.length] ?? '')?.push(resourceId(resource));
    });
    return lists;
  });

/** The most resources that can stay when the survivors are fixed: every choice of which targets take one extra. */
function bruteForceMaxKeptOnto(current: Assignment, targets: readonly string[]): number {
  const total = [...current.values()].reduce((sum, ids) => sum + ids.length, 0);
  const loads = targets.map((id) => current.get(id)?.length ?? 0);
  const floor = Math.floor(total / targets.length);
  const extras = total % targets.length;
  let best = 0;
  for (let mask = 0; mask < 1 << targets.length; mask += 1) {
    if (mask.toString(2).replaceAll('0', '').length !== extras) continue;
    best = Math.max(
      best,
      loads.reduce((sum, load, i) => sum + Math.min(load, floor + (mask & (1 << i) ? 1 : 0)), 0),
    );
  }
  return best;
}

describe('rebalanceOnto (the survivors named: a scale-in keeps the lowest-numbered)', () => {
  it('empties every other instance, balances the targets, and moves exactly the brute-force minimum', () => {
    fc.assert(
      fc.property(
        arbitraryAssignment,
        fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: MAX_INSTANCES }),
        (current, targetNumbers) => {
          const targets = targetNumbers.map(String);
          const total = [...current.values()].reduce((sum, ids) => sum + ids.length, 0);

          const result = rebalanceOnto(current, targets, RESOURCE_POOL);

          expect([...result.assignment.keys()].sort()).toEqual([...targets].sort());
          expect(result.removed).toEqual(
            [...current.keys()].filter((id) => !targets.includes(id)).sort((a, b) => Number(a) - Number(b)),
          );
          const after = applyPlan(current, result.plan);
          for (const id of result.removed) expect(after.get(id) ?? []).toEqual([]);
          for (const id of targets) {
            const size = after.get(id)?.length ?? 0;
            expect(size).toBeGreaterThanOrEqual(Math.floor(total / targets.length));
            expect(size).toBeLessThanOrEqual(Math.ceil(total / targets.length));
          }
          expect(result.moved).toBe(result.minimumMoves);
          expect(result.minimumMoves).toBe(total - bruteForceMaxKeptOnto(current, targets));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('refuses when the targets cannot hold every resource, and names no duplicate targets', () => {
    const current = new Map([
      ['0', ['a', 'b', 'c']],
      ['1', ['d', 'e']],
    ]);
    expect(() => rebalanceOnto(current, ['0'], 4)).toThrow(CapacityError);
    expect(() => rebalanceOnto(current, ['0', '0'], 4)).toThrow(RangeError);
    expect(() => rebalanceOnto(current, [], 4)).toThrow(RangeError);
  });
});

describe('drainPlan (a scale-in empties the draining instances and moves nothing else)', () => {
  it('moves exactly the drained resources, each to the least-loaded target, within capacity', () => {
    fc.assert(
      fc.property(arbitraryAssignment, fc.integer({ min: 1, max: 5 }), (current, drainCount) => {
        const ids = [...current.keys()].sort((a, b) => Number(a) - Number(b));
        fc.pre(ids.length > drainCount);
        const draining = ids.slice(-drainCount);
        const targets = ids.slice(0, -drainCount);
        const leaving = draining.reduce((sum, id) => sum + (current.get(id)?.length ?? 0), 0);

        const plan = drainPlan(current, draining, targets, RESOURCE_POOL);

        const after = applyPlan(current, plan);
        for (const id of draining) expect(after.get(id)).toEqual([]);
        expect(countMoves(current, after)).toBe(leaving);
        for (const step of plan) expect(draining).toContain(step.from);
        // Water-filling: a target that received anything ends at most one above the least-loaded target.
        const lowest = Math.min(...targets.map((id) => after.get(id)!.length));
        for (const step of plan) expect(after.get(step.to)!.length).toBeLessThanOrEqual(lowest + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses when the targets cannot hold the drained resources', () => {
    const current = new Map([
      ['0', ['a', 'b']],
      ['1', ['c', 'd']],
    ]);
    expect(() => drainPlan(current, ['1'], ['0'], 3)).toThrow(CapacityError);
    expect(drainPlan(current, ['1'], ['0'], 4)).toEqual([{ from: '1', to: '0', ids: ['c', 'd'] }]);
  });
});

describe('rebalance on any small assignment', () => {
  it('balances within one of the mean, moving exactly the brute-force minimum', () => {
    fc.assert(
      fc.property(
        arbitraryAssignment,
        fc.integer({ min: 1, max: MAX_INSTANCES }),
        fc.integer({ min: 1, max: 12 }),
        (current, targets, capacity) => {
          const total = [...current.values()].reduce((sum, ids) => sum + ids.length, 0);
          fc.pre(total <= targets * capacity);

          const result = rebalance(current, targets, capacity);

          expectRebalanceContract(current, targets, result);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('gives the same result for the same input', () => {
    fc.assert(
      fc.property(arbitraryAssignment, fc.integer({ min: 1, max: MAX_INSTANCES }), (current, targets) => {
        expect(rebalance(current, targets, RESOURCE_POOL)).toEqual(rebalance(current, targets, RESOURCE_POOL));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses exactly when the resources do not fit', () => {
    fc.assert(
      fc.property(
        arbitraryAssignment,
        fc.integer({ min: 1, max: MAX_INSTANCES }),
        fc.integer({ min: 1, max: 6 }),
        (current, targets, capacity) => {
          const total = [...current.values()].reduce((sum, ids) => sum + ids.length, 0);

          const act = () => rebalance(current, targets, capacity);

          if (total > targets * capacity) expect(act).toThrow(CapacityError);
          else expect(act).not.toThrow();
        },
      ),
      { numRuns: 200 },
    );
  });
});

type Operation =
  | { kind: 'place'; resource: number }
  | { kind: 'remove'; resource: number }
  | { kind: 'rebalance'; targets: number };

const arbitraryOperation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('place' as const), resource: fc.nat(RESOURCE_POOL - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), resource: fc.nat(RESOURCE_POOL - 1) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rebalance' as const),
      targets: fc.integer({ min: 1, max: MAX_INSTANCES }),
    }),
  },
);

/** One resource kind as the store would hold it, changed only through the domain functions. */
class Model {
  readonly instances = new Map<string, InstanceState>();
  readonly live = new Set<string>();

  constructor(readonly capacity: number) {}

  apply(operation: Operation): void {
    if (operation.kind === 'place') this.place(resourceId(operation.resource));
    else if (operation.kind === 'remove') this.remove(resourceId(operation.resource));
    else this.rebalance(operation.targets);
  }

  private place(id: string): void {
    if (this.live.has(id)) return;
    // No maximum is given, so a choice always exists.
    const choice = choosePlacement([...this.instances.values()], id)!;
    const target = choice.isNew ? newInstance(choice.instanceId, this.capacity) : this.instances.get(choice.instanceId);
    if (!target) throw new Error(`placement chose a missing instance ${choice.instanceId}`);
    expect(choice.isNew).toBe(!this.instances.has(choice.instanceId));
    this.instances.set(target.id, withAdded(target, [id]));
    this.live.add(id);
  }

  private remove(id: string): void {
    for (const [instanceId, instance] of this.instances) this.instances.set(instanceId, withRemoved(instance, [id]));
    this.live.delete(id);
  }

  private rebalance(targets: number): void {
    const current = new Map([...this.instances].map(([id, instance]) => [id, instance.ids]));
    if (this.live.size > targets * this.capacity) {
      expect(() => rebalance(current, targets, this.capacity)).toThrow(CapacityError);
      return;
    }
    const result = rebalance(current, targets, this.capacity);
    expectRebalanceContract(current, targets, result);

    const touched = new Set(result.plan.flatMap((move) => [move.from, move.to]));
    for (const id of result.removed) this.instances.delete(id);
    for (const [id, ids] of result.assignment) {
      const before = this.instances.get(id) ?? newInstance(id, this.capacity);
      const reloadTimes = touched.has(id) ? before.reloadTimes + 1 : before.reloadTimes;
      this.instances.set(id, { ...before, ids, used: ids.length, reloadTimes });
    }
  }

  snapshot(): Map<string, InstanceState> {
    return new Map(this.instances);
  }
}

function expectInvariants(model: Model, before: ReadonlyMap<string, InstanceState>): void {
  const seen = new Map<string, number>();
  for (const instance of model.instances.values()) {
    expect(instance.used).toBe(instance.ids.length);
    expect(instance.used).toBeLessThanOrEqual(instance.count);
    for (const id of instance.ids) seen.set(id, (seen.get(id) ?? 0) + 1);
    const previous = before.get(instance.id);
    if (previous) {
      const changed = previous.ids.join(',') !== instance.ids.join(',');
      if (changed) expect(instance.reloadTimes).toBeGreaterThan(previous.reloadTimes);
      else expect(instance.reloadTimes).toBe(previous.reloadTimes);
    }
  }
  // Every live resource on exactly one instance; a removed one nowhere.
  expect([...seen.keys()].sort()).toEqual([...model.live].sort());
  for (const copies of seen.values()) expect(copies).toBe(1);
}

describe('a kind driven by random place / remove / rebalance sequences', () => {
  it('keeps every resource on exactly one instance within its count, and reloads every changed instance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(arbitraryOperation, { maxLength: 60 }),
        (capacity, operations) => {
          const model = new Model(capacity);

          for (const operation of operations) {
            const before = model.snapshot();
            model.apply(operation);
            expectInvariants(model, before);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
