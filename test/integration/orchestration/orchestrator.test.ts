/**
 * The use cases end to end on each real store adapter: what a worker reads
 * from the legacy layout after each call is the assertion.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { CapacityError, InvalidOptionError, InvalidResourceIdError } from '../../../lib/domain/errors.js';
import { LeaseHeldError, UnknownResourceError } from '../../../lib/orchestration/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { createOrchestration, type Orchestration } from '../../../lib/orchestration/index.js';
import { openTestStore, STORE_ADAPTERS, type TestStore } from '../../support/stores.js';

describe.each(STORE_ADAPTERS)('orchestrator on %s', (adapter) => {
  let t: TestStore;
  let clock = 1_700_000_000_000;
  let orchestrator: Orchestration;
  const fresh = () =>
    createOrchestration({
      logger: silentLogger(),
      store: t.store,
      kinds: DEFAULT_KINDS,
      root: t.env.ZK_ROOT,
      stateRoot: t.env.ZK_STATE_ROOT,
      clock: () => clock,
    });
  /** What a worker sees: the raw nodes of the legacy layout. */
  const workerView = async (id: string) => {
    const layout = orchestrator.layout;
    const [node, resources, reload, tmp] = await t.store.getMany([
      layout.instance('Thing', id),
      layout.resources('Thing', id),
      layout.reload('Thing', id),
      layout.tmp('Thing', id),
    ]);
    return { data: node?.data, resources: resources?.data, reload: reload?.data, tmp: tmp?.data };
  };

  beforeEach(async () => {
    t = await openTestStore(adapter, 'orch');
    orchestrator = fresh();
  });
  afterEach(() => t.cleanup());

  it('creates instance 0 in the exact legacy layout for the first resource', async () => {
    const result = await orchestrator.assign('Thing', ['thing-a']);

    expect(result).toEqual({
      assigned: [{ id: 'thing-a', instanceId: '0' }],
      alreadyAssigned: [],
      createdInstances: ['0'],
      pending: [],
    });
    expect(await workerView('0')).toEqual({
      data: '{"used":1,"count":5000}',
      resources: '{"ids":["thing-a"]}',
      reload: '{"times":0}',
      tmp: '',
    });
  });

  it('has the effect of once when the same create is delivered twice', async () => {
    await orchestrator.assign('Thing', ['thing-a', 'thing-b']);
    const before = await workerView('0');

    const again = await fresh().assign('Thing', ['thing-a', 'thing-b']);

    expect(again.assigned).toEqual([]);
    expect(again.alreadyAssigned.map((p) => p.id).sort()).toEqual(['thing-a', 'thing-b']);
    expect(await workerView('0')).toEqual(before);
  });

  it('increments _reload on every change to an instance list', async () => {
    await orchestrator.assign('Thing', ['a']);
    await orchestrator.assign('Thing', ['b']);
    await orchestrator.unassign('Thing', ['a']);

    expect(await workerView('0')).toMatchObject({
      resources: '{"ids":["b"]}',
      reload: '{"times":2}',
      data: '{"used":1,"count":5000}',
    });
  });

  it('removes a resource everywhere and treats a second delete as done', async () => {
    await orchestrator.assign('Thing', ['a', 'b']);

    const first = await orchestrator.unassign('Thing', ['a']);
    const second = await fresh().unassign('Thing', ['a']);

    expect(first.removed).toEqual([{ id: 'a', instanceId: '0' }]);
    expect(second).toEqual({ removed: [], notAssigned: ['a'] });
    expect(await orchestrator.locate('Thing', 'a')).toBeUndefined();
    expect(await orchestrator.locate('Thing', 'b')).toBe('0');
  });

  it('reload bumps the owning instance only, once per call', async () => {
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 20 }, (_, i) => `t${i}`),
    );
    await orchestrator.orchestrate('Thing', { initInstances: 4 }, 'op');
    const owner = (await orchestrator.locate('Thing', 't3'))!;
    const before = await orchestrator.read('Thing');

    const result = await orchestrator.reload('Thing', ['t3', 'missing']);

    const after = await orchestrator.read('Thing');
    expect(result.notAssigned).toEqual(['missing']);
    for (const instance of after) {
      const old = before.find((b) => b.id === instance.id)!;
      expect(instance.reloadTimes, `instance ${instance.id}`).toBe(old.reloadTimes + (instance.id === owner ? 1 : 0));
    }
  });

  it('orchestrates with the legacy numbers and a balanced minimal-movement result', async () => {
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 95 }, (_, i) => `t${String(i).padStart(3, '0')}`),
    );

    const result = await orchestrator.orchestrate('Thing', {}, 'op');

    // 95 resources: floor(95/5000)+1 = 1 < 10 initial → 10 instances, spread at most floor(95/10)+1 = 10 each;
    // the capacity each instance keeps is the configured 5000 (SPEC §3, changed from legacy).
    expect(result).toMatchObject({
      instances: 10,
      resourcePerInstance: 5000,
      spreadPerInstance: 10,
      moved: result.minimumMoves,
    });
    const after = await orchestrator.read('Thing');
    expect(after.map((i) => i.id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    for (const instance of after) {
      expect(instance.count).toBe(5000);
      expect(instance.used === 9 || instance.used === 10).toBe(true);
    }
    expect(result.moved).toBe(95 - 10);
    for (const instance of after)
      for (const id of instance.ids) expect(await orchestrator.locate('Thing', id)).toBe(instance.id);
  });

  it('moves only what balance needs when re-orchestrating after growth', async () => {
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 100 }, (_, i) => `t${i}`),
    );
    await orchestrator.orchestrate('Thing', { initInstances: 10 }, 'op');
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 10 }, (_, i) => `n${i}`),
    );

    const result = await orchestrator.orchestrate('Thing', { initInstances: 11 }, 'op');

    expect(result.instances).toBe(11);
    expect(result.moved).toBe(result.minimumMoves);
    expect(result.moved).toBeLessThanOrEqual(10);
    expect((await orchestrator.read('Thing')).every((i) => i.used === 10)).toBe(true);
  });

  it('shrinks: a removed instance hands its resources to the survivors and disappears', async () => {
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 30 }, (_, i) => `t${i}`),
    );
    await orchestrator.orchestrate('Thing', { initInstances: 6 }, 'op');
    await orchestrator.recordHeartbeats([{ resource: 'Thing', instanceId: '5', at: clock }]);
    await orchestrator.writeRecord('Thing', '5', {
      action: 'created',
      reason: 'no pod',
      pod: 'iota-dac-5-g1',
      generation: 1,
      at: clock,
    });

    const result = await orchestrator.orchestrate('Thing', { initInstances: 5 }, 'op');

    const after = await orchestrator.read('Thing');
    expect(after).toHaveLength(5);
    expect(after.reduce((sum, i) => sum + i.used, 0)).toBe(30);
    expect(result.moved).toBe(5);
    expect(await workerView('5')).toEqual({ data: undefined, resources: undefined, reload: undefined, tmp: undefined });
    expect((await orchestrator.heartbeats('Thing')).has('5')).toBe(false);
    expect((await orchestrator.records('Thing')).has('5')).toBe(false);
  });

  it('refuses a second orchestrate while the first holds the lease', async () => {
    const lease = await orchestrator.acquireLease('orchestrate-Thing', 'first', 60_000);

    await expect(orchestrator.orchestrate('Thing', {}, 'second')).rejects.toBeInstanceOf(LeaseHeldError);

    await orchestrator.releaseLease(lease);
    await expect(orchestrator.orchestrate('Thing', {}, 'second')).resolves.toMatchObject({ instances: 10 });
  });

  it('lets an expired lease be taken over', async () => {
    await orchestrator.acquireLease('reconcile', 'dead-holder', 1000);
    clock += 1001;

    const lease = await fresh().acquireLease('reconcile', 'next', 1000);

    expect(lease.holder).toBe('next');
  });

  it('makes the leases folder on the first lease only: taking a lease again makes no path', async () => {
    let ensured = 0;
    const ensurePath = t.store.ensurePath.bind(t.store);
    t.store.ensurePath = (path) => {
      ensured++;
      return ensurePath(path);
    };
    const counted = fresh();

    const first = await counted.acquireLease('reconcile', 'a', 60_000);
    await counted.releaseLease(first);
    const again = await counted.acquireLease('reconcile', 'b', 60_000);
    await counted.acquireLease('orchestrate-Thing', 'b', 60_000);

    expect(again.holder).toBe('b');
    expect(ensured).toBe(1);
  });

  it('rejects bad input before writing anything', async () => {
    await expect(orchestrator.assign('Thing', ['ok', 'not ok'])).rejects.toBeInstanceOf(InvalidResourceIdError);
    await expect(orchestrator.assign('Device', ['x'])).rejects.toBeInstanceOf(UnknownResourceError);
    await expect(orchestrator.orchestrate('Thing', { maxInstances: 1 }, 'op')).rejects.toThrow(InvalidOptionError);
    expect(await orchestrator.read('Thing')).toEqual([]);
  });

  it('fails orchestrate with the legacy error text when more instances than the max would be needed', async () => {
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 40 }, (_, i) => `t${i}`),
    );

    await expect(orchestrator.orchestrate('Thing', { maxInstances: 3, resourcePerInstance: 10 }, 'op')).rejects.toThrow(
      new CapacityError(5, 3).message,
    );
  });

  it('keeps capacity at the configured number after a small orchestrate: later resources fill the pool, no new instances', async () => {
    await orchestrator.assign('Thing', ['t0', 't1', 't2', 't3', 't4']);
    await orchestrator.orchestrate('Thing', { initInstances: 3 }, 'op');

    await orchestrator.assign(
      'Thing',
      Array.from({ length: 50 }, (_, i) => `n${i}`),
    );

    const after = await orchestrator.read('Thing');
    expect(after.map((i) => i.id)).toEqual(['0', '1', '2']);
    expect(after.map((i) => i.count)).toEqual([5000, 5000, 5000]);
    expect(after.reduce((sum, i) => sum + i.used, 0)).toBe(55);
    // Least-loaded with room: the three lists stay within one of each other.
    expect(Math.max(...after.map((i) => i.used)) - Math.min(...after.map((i) => i.used))).toBeLessThanOrEqual(1);
  });

  it('keeps resources pending at maxInstances, alerts once, and places them when orchestrate makes room', async () => {
    await orchestrator.assign('Thing', ['a0', 'a1', 'a2']);
    await orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }, 'op');
    await orchestrator.assign('Thing', ['b0', 'b1', 'b2']);

    const full = await orchestrator.assign('Thing', ['c0', 'c1']);
    const again = await fresh().assign('Thing', ['c1', 'c2']);

    expect(full).toMatchObject({ assigned: [], pending: ['c0', 'c1'] });
    expect(again).toMatchObject({ assigned: [], pending: ['c1', 'c2'] });
    expect(await orchestrator.pendingIds('Thing')).toEqual(['c0', 'c1', 'c2']);
    expect((await orchestrator.read('Thing')).map((i) => i.used)).toEqual([2, 2, 2]);
    const view = await orchestrator.describe('Thing');
    expect(view.totals.pending).toBe(3);
    expect(view.pending).toEqual(['c0', 'c1', 'c2']);

    const result = await orchestrator.orchestrate('Thing', { maxInstances: 5, resourcePerInstance: 2 }, 'op');

    expect(result.placedPending).toBe(3);
    expect(await orchestrator.pendingIds('Thing')).toEqual([]);
    for (const id of ['c0', 'c1', 'c2']) expect(await orchestrator.locate('Thing', id)).toBeDefined();
    const after = await orchestrator.read('Thing');
    expect(after.length).toBeLessThanOrEqual(5);
    expect(after.reduce((sum, i) => sum + i.used, 0)).toBe(9);
    expect(after.every((i) => i.used <= i.count && i.count === 2)).toBe(true);
  });

  it('keeps a bulk past maxInstances pending with one multi per 500 ids, and a redelivery that overlaps it', async () => {
    await orchestrator.assign('Thing', ['a0', 'a1', 'a2']);
    await orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }, 'op');
    await orchestrator.assign('Thing', ['b0', 'b1', 'b2']);
    const bulk = Array.from({ length: 1200 }, (_, i) => `bulk-${i}`);
    const pendingCreates: number[] = [];
    const commit = t.store.commit.bind(t.store);
    t.store.commit = async (ops) => {
      await commit(ops);
      const created = ops.filter((op) => op.op === 'create' && op.path.includes('/pending/')).length;
      if (created > 0) pendingCreates.push(created);
    };

    const first = await orchestrator.assign('Thing', bulk);
    const committedFirst = [...pendingCreates];
    const again = await fresh().assign('Thing', [...bulk.slice(0, 600), 'late']);

    expect(first.pending).toHaveLength(1200);
    expect(committedFirst).toEqual([500, 500, 200]);
    expect(again.pending).toHaveLength(601);
    expect(await orchestrator.pendingIds('Thing')).toEqual([...bulk, 'late'].sort());
  });

  it('forgets a pending resource that is deleted before it found room', async () => {
    await orchestrator.assign('Thing', ['a0', 'a1', 'a2']);
    await orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }, 'op');
    await orchestrator.assign('Thing', ['b0', 'b1', 'b2', 'late']);

    const result = await orchestrator.unassign('Thing', ['late']);

    expect(result.notAssigned).toEqual(['late']);
    expect(await orchestrator.pendingIds('Thing')).toEqual([]);
  });

  it('places pending resources once room frees up', async () => {
    await orchestrator.assign('Thing', ['a0', 'a1', 'a2']);
    await orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }, 'op');
    await orchestrator.assign('Thing', ['b0', 'b1', 'b2', 'late']);
    await orchestrator.unassign('Thing', ['a1']);

    const result = await orchestrator.placePending('Thing');

    expect(result.assigned.map((p) => p.id)).toEqual(['late']);
    expect(await orchestrator.pendingIds('Thing')).toEqual([]);
    expect(await orchestrator.locate('Thing', 'late')).toBeDefined();
  });

  it('keeps the newest heartbeat per instance with one write each, and never moves time backwards', async () => {
    const result = await orchestrator.recordHeartbeats([
      { resource: 'Thing', instanceId: '0', at: 10 },
      { resource: 'Thing', instanceId: '0', at: 30, extra: { version: '2.1' } },
      { resource: 'Thing', instanceId: '1', at: 20 },
      { resource: 'Device', instanceId: '1', at: 20 },
    ]);
    const late = await fresh().recordHeartbeats([{ resource: 'Thing', instanceId: '0', at: 25 }]);

    expect(result).toEqual({ writes: 2, instances: 2 });
    expect(late.writes).toBe(0);
    expect(await orchestrator.heartbeats('Thing')).toEqual(
      new Map([
        ['0', { at: 30, extra: { version: '2.1' } }],
        ['1', { at: 20 }],
      ]),
    );
  });

  it('describes instances with health from stored heartbeats', async () => {
    await orchestrator.assign('Thing', ['a']);
    await orchestrator.recordHeartbeats([{ resource: 'Thing', instanceId: '0', at: clock - 1000 }]);
    await orchestrator.writeRecord('Thing', '0', {
      action: 'created',
      reason: 'no pod',
      pod: 'iota-dac-0-g1',
      phase: 'Running',
      generation: 1,
      at: clock,
    });

    const view = await orchestrator.describe('Thing');

    expect(view.instances[0]).toMatchObject({
      id: '0',
      used: 1,
      health: 'healthy',
      heartbeat: { ageMs: 1000 },
      pod: { name: 'iota-dac-0-g1', phase: 'Running' },
    });
    expect(view.totals).toEqual({ instances: 1, resources: 1, capacity: 5000, pending: 0 });
    expect(view.limits).toEqual({ maxInstances: 100, resourcePerInstance: 5000 });
  });
});
