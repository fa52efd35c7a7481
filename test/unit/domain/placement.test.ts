import { describe, expect, it } from 'vitest';
import type { InstanceState } from '../../../lib/domain/orchestration.js';
import {
  choosePlacement,
  DRAINING_COUNT,
  isDraining,
  newInstance,
  smallestUnusedId,
  withAdded,
  withRemoved,
} from '../../../lib/domain/placement.js';

const instance = (id: string, used: number, count = 3): InstanceState => ({
  id,
  used,
  count,
  ids: Array.from({ length: used }, (_, i) => `${id}-r${i}`),
  reloadTimes: 0,
});

describe('choosePlacement', () => {
  it('puts a resource on the least used instance with room', () => {
    const instances = [instance('0', 2), instance('1', 1), instance('2', 3)];

    expect(choosePlacement(instances, 'thing-a')).toEqual({ instanceId: '1', isNew: false });
  });

  it('never picks a full instance, however lightly the others are loaded', () => {
    const instances = [instance('0', 1, 1), instance('1', 4, 5)];

    expect(choosePlacement(instances, 'thing-a')).toEqual({ instanceId: '1', isNew: false });
  });

  it('creates the smallest unused instance id when every instance is full', () => {
    const instances = [instance('0', 3), instance('2', 3), instance('3', 3)];

    expect(choosePlacement(instances, 'thing-a')).toEqual({ instanceId: '1', isNew: true });
  });

  it('finds no room in a draining instance (capacity 0), whatever the kind capacity says', () => {
    const instances = [instance('0', 2, 5), { ...instance('1', 1), count: DRAINING_COUNT }];

    expect(choosePlacement(instances, 'thing-a', { capacity: 5 })).toEqual({ instanceId: '0', isNew: false });
    expect(isDraining(instances[1]!)).toBe(true);
  });

  it('opens a new instance beside a draining one rather than reuse its id', () => {
    const instances = [instance('0', 3), { ...instance('1', 0), count: DRAINING_COUNT }];

    expect(choosePlacement(instances, 'thing-a')).toEqual({ instanceId: '2', isNew: true });
  });

  it('creates instance 0 when there are no instances', () => {
    expect(choosePlacement([], 'thing-a')).toEqual({ instanceId: '0', isNew: true });
  });

  it('spreads different ids over equally loaded instances', () => {
    const instances = Array.from({ length: 8 }, (_, i) => instance(String(i), 0, 10));

    const chosen = new Set(Array.from({ length: 200 }, (_, i) => choosePlacement(instances, `thing-${i}`)!.instanceId));

    expect(chosen.size).toBe(8);
  });

  it('keeps sequential placements within a few resources of the mean', () => {
    let instances = Array.from({ length: 20 }, (_, i) => newInstance(String(i), 1000));

    for (let i = 0; i < 2000; i++) {
      const { instanceId } = choosePlacement(instances, `thing-${i}`)!;
      instances = instances.map((s) => (s.id === instanceId ? withAdded(s, [`thing-${i}`]) : s));
    }

    const loads = instances.map((s) => s.used);
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(4);
  });

  it('sends every id to the one least-loaded instance when one is clearly least used', () => {
    const instances = Array.from({ length: 100 }, (_, i) => instance(String(i), i + 1, 200));
    instances[37] = instance('37', 0, 200);

    const chosen = new Set(Array.from({ length: 8 }, (_, i) => choosePlacement(instances, `thing-${i}`)?.instanceId));

    expect(chosen).toEqual(new Set(['37']));
  });

  it('measures room against the kind capacity, not a smaller count left by the legacy rule', () => {
    const instances = [instance('0', 2, 2), instance('1', 3, 3)];

    expect(choosePlacement(instances, 'thing-a', { capacity: 5000 })).toEqual({ instanceId: '0', isNew: false });
  });

  it('opens no instance past the maximum: the resource must wait', () => {
    const instances = [instance('0', 3), instance('1', 3), instance('2', 3)];

    expect(choosePlacement(instances, 'thing-a', { maxInstances: 3 })).toBeUndefined();
    expect(choosePlacement(instances, 'thing-a', { maxInstances: 4 })).toEqual({ instanceId: '3', isNew: true });
  });

  it('chooses the same instance for the same id whatever the order of the instances', () => {
    const instances = Array.from({ length: 8 }, (_, i) => instance(String(i), 0, 10));

    const forward = choosePlacement(instances, 'thing-42');
    const backward = choosePlacement([...instances].reverse(), 'thing-42');

    expect(backward).toEqual(forward);
  });

  it('avoids excluded instances while another has room, even a fuller one', () => {
    const instances = [instance('0', 0), instance('1', 2), instance('2', 3)];

    expect(choosePlacement(instances, 'thing-a', { exclude: new Set(['0']) })).toEqual({
      instanceId: '1',
      isNew: false,
    });
  });

  it('falls back to an excluded instance when only excluded ones have room', () => {
    const instances = [instance('0', 1), instance('1', 3)];

    expect(choosePlacement(instances, 'thing-a', { exclude: new Set(['0']) })).toEqual({
      instanceId: '0',
      isNew: false,
    });
  });
});

describe('smallestUnusedId', () => {
  it('fills the first gap', () => {
    expect(smallestUnusedId(['0', '1', '3'])).toBe('2');
  });

  it('follows the last id when there is no gap', () => {
    expect(smallestUnusedId(['2', '0', '1'])).toBe('3');
  });

  it('ignores names that are not instance ids', () => {
    expect(smallestUnusedId(['00', 'x', '-1'])).toBe('0');
  });
});

describe('instance changes', () => {
  it('starts a new instance empty', () => {
    expect(newInstance('4', 50)).toEqual({ id: '4', used: 0, count: 50, ids: [], reloadTimes: 0 });
  });

  it('appends added ids, counts them and bumps the reload counter', () => {
    const before = { ...instance('0', 1), reloadTimes: 7 };

    const after = withAdded(before, ['a', 'b']);

    expect(after).toEqual({ id: '0', used: 3, count: 3, ids: ['0-r0', 'a', 'b'], reloadTimes: 8 });
    expect(before.ids).toEqual(['0-r0']);
  });

  it('refuses to add past the instance count', () => {
    expect(() => withAdded(instance('0', 2), ['a', 'b'])).toThrow(RangeError);
  });

  it('refuses to hold an id twice', () => {
    expect(() => withAdded(instance('0', 1), ['0-r0'])).toThrow(RangeError);
  });

  it('removes ids, keeps the order of the rest and bumps the reload counter', () => {
    const before = instance('0', 3);

    const after = withRemoved(before, ['0-r1', 'elsewhere']);

    expect(after).toEqual({ id: '0', used: 2, count: 3, ids: ['0-r0', '0-r2'], reloadTimes: 1 });
  });

  it('leaves the instance, and its reload counter, alone when nothing changes', () => {
    const before = instance('0', 2);

    expect(withRemoved(before, ['elsewhere'])).toBe(before);
    expect(withAdded(before, [])).toBe(before);
  });
});
