/**
 * The reconcile loop end to end: the Kubernetes adapter over HTTP against the
 * API simulator, a real SQLite store. Every test asserts what is left in the
 * cluster and in the store after the runs, not which calls were made.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaAlertPublisher } from '../../../lib/alerts.js';
import type { InstanceRecord } from '../../../lib/orchestration/types.js';
import {
  names,
  RULE,
  silentLogger,
  START_AFTER_MS,
  startHarness,
  THING,
  withFaults,
  type Harness,
  type HarnessOptions,
} from './harness.js';

const SECOND = 1000;
const ids = (count: number): string[] => Array.from({ length: count }, (_, i) => String(i));

describe('reconcile against the Kubernetes simulator', () => {
  let h: Harness;
  const start = async (options: HarnessOptions = {}): Promise<Harness> => (h = await startHarness(options));
  afterEach(async () => h?.close());

  /** Instances whose pods have been Running for a while and heartbeat now. */
  const settledFleet = async (count: number): Promise<void> => {
    await h.instances(THING, count);
    await h.run();
    h.advance(START_AFTER_MS);
    h.advance(300 * SECOND);
    await h.beat(THING, ids(count));
  };
  const records = (resource = 'Thing'): Promise<Map<string, InstanceRecord>> => h.app.orchestrator.records(resource);

  it('starts one pod per instance of every kind, named for its first generation, and records it', async () => {
    await start();
    await h.instances(THING, 3);
    await h.instances(RULE, 2);

    const report = await h.run();

    for (const id of ids(3)) expect(names(h.livePods(THING, id))).toEqual([`iota-dac-${id}-g1`]);
    for (const id of ids(2)) expect(names(h.livePods(RULE, id))).toEqual([`iota-rules-engine-${id}-g1`]);
    expect(h.sim.pod('iota-dac-2-g1')?.spec.containers[0]).toMatchObject({
      env: expect.arrayContaining([{ name: 'INSTANCE_ID', value: '2' }]),
    });
    expect((await records()).get('1')).toMatchObject({
      action: 'created',
      reason: 'no pod',
      pod: 'iota-dac-1-g1',
      generation: 1,
    });
    expect((await records('Rule')).get('0')).toMatchObject({
      action: 'created',
      pod: 'iota-rules-engine-0-g1',
      generation: 1,
    });
    expect(report).toMatchObject({ status: 'done', errors: [], apiCalls: { list: 2, create: 5, delete: 0 } });
  });

  it('changes nothing in the cluster on a second run over a healthy fleet, and records the pods as Running', async () => {
    await start();
    await settledFleet(3);
    const before = names(h.sim.list());

    const report = await h.run();

    expect(names(h.sim.list())).toEqual(before);
    expect(report.apiCalls).toEqual({ list: 2, create: 0, delete: 0 });
    expect([...(await records()).values()].map((r) => [r.action, r.phase])).toEqual([
      ['created', 'Running'],
      ['created', 'Running'],
      ['created', 'Running'],
    ]);
  });

  it('recycles a silent instance: its pod terminates and the next generation starts beside it', async () => {
    await start();
    await settledFleet(4);
    h.advance(100 * SECOND);
    await h.beat(THING, ['0', '2', '3']);

    await h.run();

    expect(names(h.allPods(THING, '1'))).toEqual(['iota-dac-1-g1', 'iota-dac-1-g2']);
    expect(h.sim.pod('iota-dac-1-g1')?.metadata.deletionTimestamp).toBeDefined();
    expect(names(h.livePods(THING, '1'))).toEqual(['iota-dac-1-g2']);
    for (const id of ['0', '2', '3']) expect(names(h.allPods(THING, id))).toEqual([`iota-dac-${id}-g1`]);
    expect((await records()).get('1')).toMatchObject({
      action: 'recycled',
      reason: 'no heartbeat for 100 s (timeout 90 s); pod iota-dac-1-g1 up 400 s',
      pod: 'iota-dac-1-g2',
      generation: 2,
    });
  });

  it('does not recycle the successor while it starts, nor again once the old pod is gone', async () => {
    await start();
    await settledFleet(4);
    h.advance(100 * SECOND);
    await h.beat(THING, ['0', '2', '3']);
    await h.run();

    h.advance(60 * SECOND);
    await h.beat(THING, ['0', '2', '3']);
    await h.run();

    expect(names(h.allPods(THING, '1'))).toEqual(['iota-dac-1-g2']);
    expect((await records()).get('1')).toMatchObject({ action: 'recycled', pod: 'iota-dac-1-g2', phase: 'Running' });
  });

  it('never recycles a silent pod still within its start-up grace', async () => {
    await start();
    await h.instances(THING, 4);
    await h.run();
    h.advance(110 * SECOND);

    const report = await h.run();

    for (const id of ids(4)) expect(names(h.allPods(THING, id))).toEqual([`iota-dac-${id}-g1`]);
    expect(report.kinds.find((k) => k.resource === 'Thing')?.silent).toEqual([]);
  });

  it('recycles none when most of the fleet is silent at once, and raises a fleet-silent alert', async () => {
    await start();
    await settledFleet(4);
    h.advance(120 * SECOND);
    await h.beat(THING, ['3']);

    await h.run();

    for (const id of ids(4)) expect(names(h.allPods(THING, id))).toEqual([`iota-dac-${id}-g1`]);
    expect(h.alerts.alerts).toEqual([
      { type: 'fleet-silent', resource: 'Thing', stale: 3, total: 4, at: h.sim.now(), instances: ['0', '1', '2'] },
    ]);
  });

  it('recycles at most maxRecyclesPerRun silent instances per run and the rest on the next runs', async () => {
    await start();
    await settledFleet(10);
    h.advance(100 * SECOND);
    await h.beat(THING, ['5', '6', '7', '8', '9']);

    await h.run();
    const afterFirst = ids(5).filter((id) => h.livePods(THING, id)[0]?.metadata.name.endsWith('-g2'));
    h.advance(30 * SECOND);
    await h.beat(THING, ['5', '6', '7', '8', '9']);
    await h.run();

    expect(afterFirst).toHaveLength(3);
    expect(h.alerts.alerts).toEqual([
      {
        type: 'recycle-storm',
        resource: 'Thing',
        silent: 5,
        recycled: 3,
        limit: 3,
        at: expect.any(Number),
        deferred: expect.any(Array),
      },
    ]);
    for (const id of ids(5)) expect(names(h.livePods(THING, id))).toEqual([`iota-dac-${id}-g2`]);
    for (const id of ['5', '6', '7', '8', '9']) expect(names(h.allPods(THING, id))).toEqual([`iota-dac-${id}-g1`]);
  });

  it('deletes the pod of an instance that is no longer in the orchestration', async () => {
    await start();
    await settledFleet(2);
    const runtime = await h.app.runtime();
    await runtime.create({ kind: THING, instanceId: '7', name: 'iota-dac-7-g3' });

    await h.run();

    expect(h.livePods(THING, '7')).toEqual([]);
    expect(names(h.livePods(THING, '0'))).toEqual(['iota-dac-0-g1']);
    expect(names(h.livePods(THING, '1'))).toEqual(['iota-dac-1-g1']);
  });

  it('replaces a pod whose node was lost while the old pod is still terminating, with no name conflict', async () => {
    await start();
    await h.instances(RULE, 2);
    await h.run();
    h.advance(START_AFTER_MS);
    h.sim.setPhase('iota-rules-engine-1-g1', 'Unknown');

    const first = await h.run();
    h.advance(10 * SECOND);
    const second = await h.run();

    expect(names(h.allPods(RULE, '1'))).toEqual(['iota-rules-engine-1-g1', 'iota-rules-engine-1-g2']);
    expect(names(h.livePods(RULE, '1'))).toEqual(['iota-rules-engine-1-g2']);
    expect([...first.errors, ...second.errors]).toEqual([]);
    expect(second.apiCalls).toEqual({ list: 2, create: 0, delete: 0 });
    expect((await records('Rule')).get('1')).toMatchObject({
      action: 'replaced',
      reason: 'pod iota-rules-engine-1-g1 is Unknown',
      generation: 2,
    });
  });

  it('replaces a failed pod with the next generation', async () => {
    await start();
    await h.instances(RULE, 1);
    await h.run();
    h.advance(START_AFTER_MS);
    h.sim.setPhase('iota-rules-engine-0-g1', 'Failed');

    await h.run();

    expect(names(h.allPods(RULE, '0'))).toEqual(['iota-rules-engine-0-g2']);
  });

  it('records an API error on one instance, reconciles the others, and retries it on the next run', async () => {
    await start({ server: withFaults({ create: new Set(['iota-dac-1-g1']) }) });
    await h.instances(THING, 3);

    const failed = await h.run();
    const stored = (await records()).get('1');
    const retried = await h.run();

    expect(failed.errors).toEqual([
      {
        resource: 'Thing',
        instanceId: '1',
        pod: 'iota-dac-1-g1',
        operation: 'create',
        message: expect.stringContaining('HTTP 500 InternalError'),
      },
    ]);
    expect(stored).toMatchObject({
      action: 'error',
      reason: 'no pod',
      pod: 'iota-dac-1-g1',
      generation: 1,
      error: expect.stringContaining('etcdserver: request timed out'),
    });
    expect(names(h.livePods(THING, '0'))).toEqual(['iota-dac-0-g1']);
    expect(names(h.livePods(THING, '2'))).toEqual(['iota-dac-2-g1']);
    expect(retried.errors).toEqual([]);
    expect(names(h.livePods(THING, '1'))).toEqual(['iota-dac-1-g2']);
    expect((await records()).get('1')).toMatchObject({ action: 'created', pod: 'iota-dac-1-g2', generation: 2 });
  });

  it('keeps a silent pod whose deletion failed and starts no successor beside it', async () => {
    await start({ server: withFaults({ delete: new Set(['iota-dac-1-g1']) }) });
    await settledFleet(4);
    h.advance(100 * SECOND);
    await h.beat(THING, ['0', '2', '3']);

    const report = await h.run();

    expect(names(h.allPods(THING, '1'))).toEqual(['iota-dac-1-g1']);
    expect(names(h.livePods(THING, '1'))).toEqual(['iota-dac-1-g1']);
    expect(report.errors).toEqual([
      {
        resource: 'Thing',
        instanceId: '1',
        pod: 'iota-dac-1-g1',
        operation: 'delete',
        message: expect.stringContaining('HTTP 500'),
      },
    ]);
    expect((await records()).get('1')).toMatchObject({
      action: 'error',
      pod: 'iota-dac-1-g1',
      generation: 1,
      reason: expect.stringContaining('no heartbeat for 100 s'),
    });
  });

  it('reconciles the other kinds when one kind cannot be listed', async () => {
    await start({ server: withFaults({ list: new Set(['Thing']) }) });
    await h.instances(THING, 2);
    await h.instances(RULE, 2);

    const report = await h.run();

    expect(
      h.sim
        .list()
        .map((pod) => pod.metadata.name)
        .sort(),
    ).toEqual(['iota-rules-engine-0-g1', 'iota-rules-engine-1-g1']);
    expect(report.errors).toEqual([
      { resource: 'Thing', operation: 'list', message: expect.stringContaining('list pods of Thing: HTTP 500') },
    ]);
    expect(report.kinds.map((kind) => kind.resource)).toEqual(['Rule']);
    expect(report).toMatchObject({ status: 'partial', failedKinds: ['Thing'] });
  });

  it('reports failed when no kind can be reconciled', async () => {
    await start({ server: withFaults({ list: new Set(['Thing', 'Rule']) }) });
    await h.instances(THING, 1);
    await h.instances(RULE, 1);

    const report = await h.run();

    expect(report).toMatchObject({ status: 'failed', failedKinds: ['Thing', 'Rule'], kinds: [] });
    expect(h.sim.list()).toEqual([]);
  });

  it('finishes the run and reports the failure when alerts cannot be delivered', async () => {
    await start();
    await settledFleet(4);
    h.advance(120 * SECOND);
    const brokerDown = new KafkaAlertPublisher({
      producer: async () => Promise.reject(new Error('connect ECONNREFUSED')),
      logger: silentLogger,
    });

    const report = await h.run({ alerts: brokerDown });

    expect(report.status).toBe('done');
    expect(report.alerts.map((alert) => alert.type)).toEqual(['fleet-silent']);
    expect(report.alertDelivery).toEqual({ logged: 1, delivered: 0, failed: 1, error: 'connect ECONNREFUSED' });
  });

  it('starts no pod operation once the run has used most of its lease, leaving the rest for the next run', async () => {
    await start({ kinds: [RULE], settings: { leaseTtlMs: 1000 }, server: withFaults({ createDelayMs: 1500 }) });
    await h.instances(RULE, 20);

    const report = await h.run();

    const started = h.sim.list().length;
    expect(started).toBeGreaterThan(0);
    expect(started).toBeLessThan(20);
    expect(report.status).toBe('done');
    expect(report.errors).toEqual([
      {
        resource: 'Rule',
        operation: 'lease',
        message: `the run outlasted its lease; ${20 - started} instances or orphans left for the next run`,
      },
    ]);
  });

  it('lists pods once per kind whatever the number of instances', async () => {
    await start();
    await h.instances(THING, 20);
    await h.instances(RULE, 20);
    await h.run();
    h.advance(START_AFTER_MS);

    const report = await h.run();

    expect(report.apiCalls).toEqual({ list: 2, create: 0, delete: 0 });
    expect(h.sim.list()).toHaveLength(40);
  });
});
