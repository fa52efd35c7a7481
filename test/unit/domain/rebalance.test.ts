import { describe, expect, it } from 'vitest';
import { CapacityError } from '../../../lib/domain/errors.js';
import type { Assignment } from '../../../lib/domain/orchestration.js';
import { rebalance } from '../../../lib/domain/rebalance.js';
import { legacyOrchestrate } from '../../support/legacy.js';
import { applyPlan, countMoves } from '../../support/plans.js';

const assignment = (lists: Record<string, string[]>): Assignment => new Map(Object.entries(lists));

describe('rebalance', () => {
  it('grows by one instance, taking the newest ids off each full instance', () => {
    const current = assignment({ '0': ['a', 'b', 'c'], '1': ['d', 'e', 'f'] });

    const result = rebalance(current, 3, 3);

    expect(result).toEqual({
      assignment: new Map([
        ['0', ['a', 'b']],
        ['1', ['d', 'e']],
        ['2', ['c', 'f']],
      ]),
      plan: [
        { from: '0', to: '2', ids: ['c'] },
        { from: '1', to: '2', ids: ['f'] },
      ],
      moved: 2,
      minimumMoves: 2,
      added: ['2'],
      removed: [],
    });
  });

  it('fills the gaps in the instance ids when growing', () => {
    const current = assignment({ '0': ['a', 'b', 'c', 'd'], '2': ['e', 'f', 'g', 'h'] });

    const result = rebalance(current, 4, 4);

    expect(result.added).toEqual(['1', '3']);
    expect(result.assignment).toEqual(
      new Map([
        ['0', ['a', 'b']],
        ['1', ['c', 'd']],
        ['2', ['e', 'f']],
        ['3', ['g', 'h']],
      ]),
    );
    expect(result.plan).toEqual([
      { from: '0', to: '1', ids: ['c', 'd'] },
      { from: '2', to: '3', ids: ['g', 'h'] },
    ]);
  });

  it('shrinks by removing the least loaded instance, whose ids join the survivors', () => {
    const current = assignment({ '0': ['a', 'b'], '1': ['c'], '2': ['d', 'e', 'f'] });

    const result = rebalance(current, 2, 5);

    expect(result).toEqual({
      assignment: new Map([
        ['0', ['a', 'b', 'c']],
        ['2', ['d', 'e', 'f']],
      ]),
      plan: [{ from: '1', to: '0', ids: ['c'] }],
      moved: 1,
      minimumMoves: 1,
      added: [],
      removed: ['1'],
    });
  });

  it('removes the higher instance id among equally loaded ones', () => {
    const current = assignment({ '0': ['a', 'b'], '1': ['c', 'd'], '2': ['e', 'f'] });

    const result = rebalance(current, 2, 3);

    expect(result.removed).toEqual(['2']);
    expect(result.plan).toEqual([
      { from: '2', to: '0', ids: ['e'] },
      { from: '2', to: '1', ids: ['f'] },
    ]);
  });

  it('gives the extra resource to the fullest instances so they keep more', () => {
    const current = assignment({ '0': ['a', 'b', 'c', 'd'], '1': ['e', 'f', 'g'], '2': ['h'] });

    const result = rebalance(current, 3, 4);

    expect(result.assignment).toEqual(
      new Map([
        ['0', ['a', 'b', 'c']],
        ['1', ['e', 'f', 'g']],
        ['2', ['h', 'd']],
      ]),
    );
    expect(result.moved).toBe(1);
  });

  it('spreads one overloaded instance over several destinations in id order', () => {
    const current = assignment({ '0': ['a', 'b', 'c', 'd', 'e'], '1': ['f'], '2': [] });

    const result = rebalance(current, 3, 5);

    expect(result.plan).toEqual([
      { from: '0', to: '1', ids: ['c'] },
      { from: '0', to: '2', ids: ['d', 'e'] },
    ]);
  });

  it('moves nothing when the instances are already balanced', () => {
    const current = assignment({ '0': ['a', 'b'], '1': ['c'], '2': ['d', 'e'] });

    const result = rebalance(current, 3, 2);

    expect(result.plan).toEqual([]);
    expect(result.moved).toBe(0);
    expect(result.minimumMoves).toBe(0);
    expect(result.assignment).toEqual(current);
  });

  it('creates empty instances when there is nothing to spread', () => {
    const result = rebalance(new Map(), 2, 1);

    expect(result.assignment).toEqual(
      new Map([
        ['0', []],
        ['1', []],
      ]),
    );
    expect(result.added).toEqual(['0', '1']);
  });

  it('refuses when the target instances cannot hold every resource', () => {
    const current = assignment({ '0': ['a', 'b', 'c', 'd'], '1': ['e', 'f', 'g'] });

    const act = () => rebalance(current, 2, 3);

    expect(act).toThrow(CapacityError);
    expect(act).toThrow('require instances more than the max: 3/2');
  });

  it('rejects a target that is not a positive integer', () => {
    expect(() => rebalance(new Map(), 0, 5)).toThrow(RangeError);
    expect(() => rebalance(new Map(), 2, 0)).toThrow(RangeError);
  });

  it('does not change the assignment it was given', () => {
    const lists = { '0': ['a', 'b', 'c'], '1': ['d', 'e', 'f'] };
    const current = assignment(structuredClone(lists));

    const result = rebalance(current, 3, 3);
    result.assignment.get('0')?.push('z');

    expect(current).toEqual(assignment(lists));
  });

  it('moves only the minimum at full scale: 500,000 resources from 100 to 101 instances', () => {
    const perInstance = 5000;
    const current = new Map(
      Array.from({ length: 100 }, (_, i) => [
        String(i),
        Array.from({ length: perInstance }, (_, j) => `thing-${i}-${j}`),
      ]),
    );

    const result = rebalance(current, 101, perInstance);

    // 500,000 over 101 is 4950 each with 50 extras: the new instance needs 4950, and nothing else moves.
    expect(result.moved).toBe(4950);
    expect(result.minimumMoves).toBe(4950);
    expect(countMoves(current, result.assignment)).toBe(4950);
    expect(result.assignment.get('100')).toHaveLength(4950);
  });
});

describe('applyPlan', () => {
  it('moves the ids of each step and creates a missing destination', () => {
    const current = assignment({ '0': ['a', 'b', 'c'], '1': ['d'] });

    const after = applyPlan(current, [
      { from: '0', to: '2', ids: ['b'] },
      { from: '1', to: '0', ids: ['d'] },
    ]);

    expect(after).toEqual(
      new Map([
        ['0', ['a', 'c', 'd']],
        ['1', []],
        ['2', ['b']],
      ]),
    );
  });

  it('rejects a step moving an id its source does not hold', () => {
    const current = assignment({ '0': ['a'], '1': [] });

    expect(() => applyPlan(current, [{ from: '0', to: '1', ids: ['b'] }])).toThrow(/not on 0/);
  });
});

describe('countMoves', () => {
  it('counts resources whose instance changed, not ones added or removed', () => {
    const before = assignment({ '0': ['a', 'b'], '1': ['c', 'gone'] });
    const after = assignment({ '0': ['a', 'c'], '1': ['b', 'new'] });

    expect(countMoves(before, after)).toBe(2);
  });
});

describe('compared with the legacy method', () => {
  it('moves a small fraction of what the legacy rebuild moves when growing by one instance', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `thing-${String(i).padStart(4, '0')}`);
    const current = legacyOrchestrate(ids, 10, 100);

    const ours = rebalance(current, 11, 100);
    const legacy = legacyOrchestrate(ids, 11, Math.ceil(1000 / 11));

    // 1000 over 11 is 90 or 91: each old instance keeps 91, the new one takes the 90 left over.
    expect(ours.moved).toBe(90);
    expect(countMoves(current, ours.assignment)).toBe(90);
    expect(countMoves(current, legacy)).toBeGreaterThan(5 * ours.moved);
  });
});
