import { describe, expect, it } from 'vitest';
import type { KindConfig } from '../../../lib/config/kinds.js';
import type { PodInfo, PodPhase } from '../../../lib/instances/port.js';
import type { InstanceRecord } from '../../../lib/orchestration/types.js';
import { backoffDelayMs } from '../../../lib/reconcile/crash-loop.js';
import { decide, DEFAULT_RECONCILE_SETTINGS, type ReconcileInput } from '../../../lib/reconcile/decide.js';

const THING: KindConfig = { resource: 'Thing', instanceName: 'iota-dac', heartbeat: true, initInstances: 10 };
const RULE: KindConfig = { resource: 'Rule', instanceName: 'iota-rules-engine', heartbeat: false, initInstances: 10 };
const NOW = Date.UTC(2024, 4, 1, 8, 0, 0);
const s = (seconds: number): number => seconds * 1000;
const ago = (seconds: number): number => NOW - s(seconds);

const pod = (
  name: string,
  instanceId: string,
  phase: PodPhase,
  startedSecondsAgo: number | undefined,
  terminating = false,
): PodInfo => ({
  name,
  resource: name.startsWith('iota-rules-engine') ? 'Rule' : 'Thing',
  instanceId,
  phase,
  startedAt: startedSecondsAgo === undefined ? undefined : ago(startedSecondsAgo),
  terminating,
});

const input = (overrides: Partial<ReconcileInput>): ReconcileInput => ({
  kind: THING,
  settings: DEFAULT_RECONCILE_SETTINGS,
  now: NOW,
  instanceIds: [],
  heartbeats: new Map(),
  pods: [],
  records: new Map(),
  ...overrides,
});

const beats = (entries: Record<string, number>): Map<string, { at: number }> =>
  new Map(Object.entries(entries).map(([id, secondsAgo]) => [id, { at: ago(secondsAgo) }]));

const running = (id: string, generation: number, startedSecondsAgo = 600): PodInfo =>
  pod(`iota-dac-${id}-g${generation}`, id, 'Running', startedSecondsAgo);
const recordOf = (pod: string, generation: number, phase = 'Running'): InstanceRecord => ({
  action: 'created',
  reason: 'no pod',
  pod,
  generation,
  at: ago(3600),
  phase,
});

describe('decide: pods for every instance', () => {
  it('creates a first-generation pod for an instance that has none', () => {
    const decision = decide(input({ kind: RULE, instanceIds: ['0'] }));

    expect(decision.actions).toEqual([
      {
        type: 'create',
        instanceId: '0',
        name: 'iota-rules-engine-0-g1',
        generation: 1,
        outcome: 'created',
        reason: 'no pod',
      },
    ]);
    expect(decision.records).toEqual([
      {
        instanceId: '0',
        record: {
          action: 'created',
          reason: 'no pod',
          pod: 'iota-rules-engine-0-g1',
          generation: 1,
          at: NOW,
          phase: 'Pending',
        },
      },
    ]);
  });

  it('names the new pod after the generation stored in the instance record', () => {
    const decision = decide(
      input({ kind: RULE, instanceIds: ['4'], records: new Map([['4', recordOf('iota-rules-engine-4-g6', 6)]]) }),
    );

    expect(decision.actions).toEqual([
      {
        type: 'create',
        instanceId: '4',
        name: 'iota-rules-engine-4-g7',
        generation: 7,
        outcome: 'created',
        reason: 'no pod',
      },
    ]);
  });

  it('creates a replacement under a new name while the previous pod is still terminating', () => {
    const decision = decide(
      input({
        instanceIds: ['2'],
        heartbeats: beats({ '2': 5 }),
        pods: [pod('iota-dac-2-g3', '2', 'Running', 900, true)],
      }),
    );

    expect(decision.actions).toEqual([
      {
        type: 'create',
        instanceId: '2',
        name: 'iota-dac-2-g4',
        generation: 4,
        outcome: 'created',
        reason: 'no live pod (iota-dac-2-g3 terminating)',
      },
    ]);
  });

  it('never reuses a generation seen in a pod name even when the record lags behind', () => {
    const decision = decide(
      input({
        instanceIds: ['1'],
        pods: [pod('iota-dac-1-g9', '1', 'Running', 50, true)],
        records: new Map([['1', recordOf('iota-dac-1-g2', 2)]]),
      }),
    );

    expect(decision.actions).toEqual([
      {
        type: 'create',
        instanceId: '1',
        name: 'iota-dac-1-g10',
        generation: 10,
        outcome: 'created',
        reason: 'no live pod (iota-dac-1-g9 terminating)',
      },
    ]);
  });

  it.each(['Failed', 'Succeeded', 'Unknown'] as const)(
    'deletes a pod in phase %s and creates its replacement',
    (phase) => {
      const decision = decide(
        input({ kind: RULE, instanceIds: ['0'], pods: [pod('iota-rules-engine-0-g1', '0', phase, 30)] }),
      );

      expect(decision.actions).toEqual([
        { type: 'delete', instanceId: '0', name: 'iota-rules-engine-0-g1', reason: `pod is ${phase}` },
        {
          type: 'create',
          instanceId: '0',
          name: 'iota-rules-engine-0-g2',
          generation: 2,
          outcome: 'replaced',
          reason: `pod iota-rules-engine-0-g1 is ${phase}`,
        },
      ]);
      expect(decision.records).toEqual([
        {
          instanceId: '0',
          record: {
            action: 'replaced',
            reason: `pod iota-rules-engine-0-g1 is ${phase}`,
            pod: 'iota-rules-engine-0-g2',
            generation: 2,
            at: NOW,
            phase: 'Pending',
            restarts: 1,
            backoff: { streak: 1, delayMs: s(10), until: NOW + s(10) },
          },
        },
      ]);
    },
  );

  it('leaves a healthy instance alone and writes nothing when its record is current', () => {
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 10 }),
        pods: [running('0', 1)],
        records: new Map([['0', recordOf('iota-dac-0-g1', 1)]]),
      }),
    );

    expect(decision).toEqual({
      resource: 'Thing',
      actions: [],
      orphans: [],
      alerts: [],
      records: [],
      silent: [],
      heldBack: [],
    });
  });

  it('adopts a pod it has no record of, keeping the generation of its name', () => {
    const decision = decide(input({ instanceIds: ['3'], heartbeats: beats({ '3': 10 }), pods: [running('3', 5)] }));

    expect(decision.actions).toEqual([]);
    expect(decision.records).toEqual([
      {
        instanceId: '3',
        record: {
          action: 'none',
          reason: 'observed pod iota-dac-3-g5',
          pod: 'iota-dac-3-g5',
          generation: 5,
          at: NOW,
          phase: 'Running',
        },
      },
    ]);
  });

  it('records a phase change without forgetting the last action', () => {
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 10 }),
        pods: [running('0', 1)],
        records: new Map([['0', recordOf('iota-dac-0-g1', 1, 'Pending')]]),
      }),
    );

    expect(decision.records).toEqual([
      { instanceId: '0', record: { ...recordOf('iota-dac-0-g1', 1), phase: 'Running' } },
    ]);
  });

  it('clears an error record once the instance has a healthy pod again', () => {
    const error: InstanceRecord = {
      action: 'error',
      reason: 'no pod',
      error: 'HTTP 500',
      pod: 'iota-dac-0-g2',
      generation: 2,
      at: ago(60),
    };
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 1 }),
        pods: [running('0', 3, 30)],
        records: new Map([['0', error]]),
      }),
    );

    expect(decision.records).toEqual([
      {
        instanceId: '0',
        record: {
          action: 'none',
          reason: 'observed pod iota-dac-0-g3',
          pod: 'iota-dac-0-g3',
          generation: 3,
          at: NOW,
          phase: 'Running',
        },
      },
    ]);
  });

  it('keeps the newest Running pod of an instance and deletes the other live ones', () => {
    const decision = decide(
      input({
        kind: RULE,
        instanceIds: ['0'],
        pods: [
          pod('iota-rules-engine-0-g1', '0', 'Running', 900),
          pod('iota-rules-engine-0-g2', '0', 'Running', 300),
          pod('iota-rules-engine-0-g3', '0', 'Pending', 10),
          pod('iota-rules-engine-0-g0', '0', 'Running', 2000, true),
        ],
        records: new Map([['0', { ...recordOf('iota-rules-engine-0-g2', 2), generation: 3 }]]),
      }),
    );

    expect(decision.actions).toEqual([
      {
        type: 'delete',
        instanceId: '0',
        name: 'iota-rules-engine-0-g1',
        reason: 'duplicate of iota-rules-engine-0-g2',
      },
      {
        type: 'delete',
        instanceId: '0',
        name: 'iota-rules-engine-0-g3',
        reason: 'duplicate of iota-rules-engine-0-g2',
      },
    ]);
    expect(decision.records).toEqual([]);
  });

  it('keeps a healthy pod and deletes a failed one beside it, without a replacement', () => {
    const decision = decide(
      input({
        kind: RULE,
        instanceIds: ['0'],
        pods: [pod('iota-rules-engine-0-g1', '0', 'Failed', 900), pod('iota-rules-engine-0-g2', '0', 'Running', 300)],
        records: new Map([['0', recordOf('iota-rules-engine-0-g2', 2)]]),
      }),
    );

    expect(decision.actions).toEqual([
      { type: 'delete', instanceId: '0', name: 'iota-rules-engine-0-g1', reason: 'pod is Failed' },
    ]);
  });

  it('finds pods by their instanceId label, whatever their name', () => {
    const decision = decide(
      input({ kind: RULE, instanceIds: ['0'], pods: [pod('iota-rules-engine-7', '0', 'Running', 900)] }),
    );

    expect(decision.actions).toEqual([]);
    expect(decision.records).toEqual([
      {
        instanceId: '0',
        record: {
          action: 'none',
          reason: 'observed pod iota-rules-engine-7',
          pod: 'iota-rules-engine-7',
          generation: 0,
          at: NOW,
          phase: 'Running',
        },
      },
    ]);
    expect(decision.orphans).toEqual([]);
  });

  it('deletes pods of instances that are no longer in the orchestration, but not those already terminating', () => {
    const decision = decide(
      input({
        kind: RULE,
        instanceIds: ['0'],
        pods: [
          pod('iota-rules-engine-0-g1', '0', 'Running', 900),
          pod('iota-rules-engine-12-g1', '12', 'Running', 900),
          pod('iota-rules-engine-5-g2', '5', 'Failed', 900),
          pod('iota-rules-engine-6-g1', '6', 'Running', 900, true),
        ],
        records: new Map([['0', recordOf('iota-rules-engine-0-g1', 1)]]),
      }),
    );

    expect(decision.orphans).toEqual([
      { instanceId: '5', name: 'iota-rules-engine-5-g2', reason: 'instance 5 is not in the Rule orchestration' },
      { instanceId: '12', name: 'iota-rules-engine-12-g1', reason: 'instance 12 is not in the Rule orchestration' },
    ]);
    expect(decision.actions).toEqual([]);
  });

  it('ignores pods labelled for another resource kind', () => {
    const decision = decide(input({ kind: RULE, instanceIds: ['0'], pods: [running('0', 1)] }));

    expect(decision.orphans).toEqual([]);
    expect(decision.actions).toEqual([
      {
        type: 'create',
        instanceId: '0',
        name: 'iota-rules-engine-0-g1',
        generation: 1,
        outcome: 'created',
        reason: 'no pod',
      },
    ]);
  });

  it('gives the same decision whatever the order of the pod list', () => {
    const pods = [
      running('1', 1),
      pod('iota-dac-0-g1', '0', 'Failed', 900),
      running('9', 1),
      pod('iota-dac-1-g2', '1', 'Running', 100),
    ];
    const first = decide(input({ instanceIds: ['0', '1'], heartbeats: beats({ '0': 1, '1': 1 }), pods }));
    const second = decide(
      input({ instanceIds: ['1', '0'], heartbeats: beats({ '0': 1, '1': 1 }), pods: [...pods].reverse() }),
    );

    expect(second).toEqual(first);
  });
});

describe('decide: silent instances', () => {
  const fleet = (size: number): string[] => Array.from({ length: size }, (_, i) => String(i));
  const healthyBeats = (ids: readonly string[]): Record<string, number> =>
    Object.fromEntries(ids.map((id) => [id, 10]));

  it('recycles an instance whose last heartbeat is older than the timeout and whose pod is past its start-up grace', () => {
    const ids = fleet(4);
    const decision = decide(
      input({
        instanceIds: ids,
        heartbeats: beats({ ...healthyBeats(ids), '2': 95 }),
        pods: ids.map((id) => running(id, 1, 600)),
      }),
    );

    const reason = 'no heartbeat for 95 s (timeout 90 s); pod iota-dac-2-g1 up 600 s';
    expect(decision.actions).toEqual([
      { type: 'recycle', instanceId: '2', oldName: 'iota-dac-2-g1', name: 'iota-dac-2-g2', generation: 2, reason },
    ]);
    expect(decision.records).toContainEqual({
      instanceId: '2',
      record: {
        action: 'recycled',
        reason,
        pod: 'iota-dac-2-g2',
        generation: 2,
        at: NOW,
        phase: 'Pending',
        restarts: 1,
        backoff: { streak: 1, delayMs: s(10), until: NOW + s(10) },
      },
    });
    expect(decision.silent).toEqual(['2']);
    expect(decision.alerts).toEqual([]);
  });

  it('does not recycle an instance whose heartbeat is exactly at the timeout', () => {
    const decision = decide(
      input({ instanceIds: ['0'], heartbeats: beats({ '0': 90 }), pods: [running('0', 1, 600)] }),
    );

    expect(decision.actions).toEqual([]);
  });

  it('never recycles a silent pod that is still within its start-up grace', () => {
    const decision = decide(
      input({ instanceIds: ['0'], heartbeats: beats({ '0': 400 }), pods: [running('0', 2, 119)] }),
    );

    expect(decision.actions).toEqual([]);
    expect(decision.silent).toEqual([]);
  });

  it('judges an instance that never sent a heartbeat by the age of its pod', () => {
    const decision = decide(
      input({
        instanceIds: ['0', '1', '2'],
        heartbeats: beats({ '2': 1 }),
        pods: [running('0', 1, 121), running('1', 1, 60), running('2', 1)],
      }),
    );

    expect(decision.actions).toEqual([
      {
        type: 'recycle',
        instanceId: '0',
        oldName: 'iota-dac-0-g1',
        name: 'iota-dac-0-g2',
        generation: 2,
        reason: 'no heartbeat ever (timeout 90 s); pod iota-dac-0-g1 up 121 s',
      },
    ]);
  });

  it('recycles a silent Pending pod judged by its creation time', () => {
    const decision = decide(
      input({
        instanceIds: ['0', '1', '2'],
        heartbeats: beats({ '1': 1, '2': 1 }),
        pods: [pod('iota-dac-0-g1', '0', 'Pending', 300), running('1', 1), running('2', 1)],
      }),
    );

    expect(decision.actions.map((a) => a.type)).toEqual(['recycle']);
  });

  it('leaves a silent pod without a start time alone: its age cannot be told', () => {
    const decision = decide(input({ instanceIds: ['0'], pods: [pod('iota-dac-0-g1', '0', 'Pending', undefined)] }));

    expect(decision.actions).toEqual([]);
  });

  it('never recycles instances of a kind without heartbeats', () => {
    const decision = decide(
      input({
        kind: RULE,
        instanceIds: ['0'],
        pods: [pod('iota-rules-engine-0-g1', '0', 'Running', 9999)],
        records: new Map([['0', recordOf('iota-rules-engine-0-g1', 1)]]),
      }),
    );

    expect(decision.actions).toEqual([]);
    expect(decision.silent).toEqual([]);
  });

  it('recycles the silent instance of a single-instance fleet: one silent instance is not an outage', () => {
    const decision = decide(input({ instanceIds: ['0'], heartbeats: beats({ '0': 300 }), pods: [running('0', 1)] }));

    expect(decision.actions.map((a) => a.type)).toEqual(['recycle']);
    expect(decision.alerts).toEqual([]);
  });

  it('recycles none and raises fleet-silent when more than half of the instances are silent together', () => {
    const ids = fleet(5);
    const decision = decide(
      input({
        instanceIds: ids,
        heartbeats: beats({ '0': 300, '1': 200, '2': 100, '3': 10, '4': 10 }),
        pods: [...ids.map((id) => running(id, 1)), pod('iota-dac-4-g0', '4', 'Failed', 900)],
        records: new Map(ids.map((id) => [id, recordOf(`iota-dac-${id}-g1`, 1)])),
      }),
    );

    expect(decision.alerts).toEqual([
      { type: 'fleet-silent', resource: 'Thing', stale: 3, total: 5, at: NOW, instances: ['0', '1', '2'] },
    ]);
    expect(decision.actions).toEqual([
      { type: 'delete', instanceId: '4', name: 'iota-dac-4-g0', reason: 'pod is Failed' },
    ]);
    expect(decision.heldBack.map((h) => h.instanceId)).toEqual(['0', '1', '2']);
    expect(decision.heldBack[0]!.reason).toBe(
      'no heartbeat for 300 s (timeout 90 s); pod iota-dac-0-g1 up 600 s; not recycled: 3 of 5 instances silent at once (outage guard)',
    );
  });

  it('still replaces dead pods while the outage guard holds recycling back', () => {
    const decision = decide(
      input({
        instanceIds: ['0', '1', '2'],
        pods: [running('0', 1), running('1', 1), pod('iota-dac-2-g1', '2', 'Failed', 900)],
      }),
    );

    expect(decision.alerts.map((a) => a.type)).toEqual(['fleet-silent']);
    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['delete 2', 'create 2']);
  });

  it('recycles when exactly half of the instances are silent (the guard needs more than half)', () => {
    const ids = fleet(4);
    const decision = decide(
      input({
        instanceIds: ids,
        heartbeats: beats({ '0': 300, '1': 300, '2': 1, '3': 1 }),
        pods: ids.map((id) => running(id, 1)),
      }),
    );

    expect(decision.alerts).toEqual([]);
    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['recycle 0', 'recycle 1']);
  });

  it('counts young silent pods as starting, not as silent, for the outage guard', () => {
    const ids = fleet(4);
    const decision = decide(
      input({
        instanceIds: ids,
        heartbeats: beats({ '0': 300 }),
        pods: [running('0', 1), running('1', 1, 5), running('2', 1, 5), running('3', 1, 5)],
      }),
    );

    expect(decision.alerts).toEqual([]);
    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['recycle 0']);
  });

  it('honours a configured fleet-silent fraction', () => {
    const ids = fleet(4);
    const decision = decide(
      input({
        settings: { ...DEFAULT_RECONCILE_SETTINGS, fleetSilentFraction: 0.25 },
        instanceIds: ids,
        heartbeats: beats({ '0': 300, '1': 300, '2': 1, '3': 1 }),
        pods: ids.map((id) => running(id, 1)),
      }),
    );

    expect(decision.actions).toEqual([]);
    expect(decision.alerts).toEqual([
      { type: 'fleet-silent', resource: 'Thing', stale: 2, total: 4, at: NOW, instances: ['0', '1'] },
    ]);
  });

  it('recycles at most maxRecyclesPerRun per run, oldest heartbeat first, and raises recycle-storm for the rest', () => {
    const ids = fleet(12);
    const decision = decide(
      input({
        instanceIds: ids,
        heartbeats: beats({ ...healthyBeats(ids), '3': 200, '5': 500, '7': 100, '8': 300, '10': 400 }),
        pods: ids.map((id) => running(id, 1)),
      }),
    );

    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['recycle 5', 'recycle 8', 'recycle 10']);
    expect(decision.silent).toEqual(['5', '10', '8', '3', '7']);
    expect(decision.heldBack.map((h) => h.instanceId)).toEqual(['3', '7']);
    expect(decision.heldBack[0]!.reason).toMatch(/; not recycled: at most 3 recycles per run$/);
    expect(decision.alerts).toEqual([
      { type: 'recycle-storm', resource: 'Thing', silent: 5, recycled: 3, limit: 3, at: NOW, deferred: ['3', '7'] },
    ]);
  });

  it('breaks ties in the recycle order by pod age, then instance id, so the choice is deterministic', () => {
    const ids = fleet(10);
    const decision = decide(
      input({
        settings: { ...DEFAULT_RECONCILE_SETTINGS, maxRecyclesPerRun: 2 },
        instanceIds: ids,
        heartbeats: beats(healthyBeats(ids.slice(4))),
        pods: [
          running('0', 1, 600),
          running('1', 1, 900),
          running('2', 1, 600),
          running('3', 1, 600),
          ...ids.slice(4).map((id) => running(id, 1)),
        ],
      }),
    );

    expect(decision.silent).toEqual(['1', '0', '2', '3']);
    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['recycle 0', 'recycle 1']);
    expect(decision.heldBack.map((h) => h.instanceId)).toEqual(['2', '3']);
  });

  it('raises no recycle-storm when the silent instances fit within the cap', () => {
    const ids = fleet(10);
    const decision = decide(
      input({
        instanceIds: ids,
        heartbeats: beats({ ...healthyBeats(ids), '1': 300, '2': 300, '3': 300 }),
        pods: ids.map((id) => running(id, 1)),
      }),
    );

    expect(decision.actions).toHaveLength(3);
    expect(decision.alerts).toEqual([]);
  });

  it('does not count dead-pod replacements against the recycle cap', () => {
    const ids = fleet(10);
    const decision = decide(
      input({
        settings: { ...DEFAULT_RECONCILE_SETTINGS, maxRecyclesPerRun: 1 },
        instanceIds: ids,
        heartbeats: beats({ ...healthyBeats(ids), '1': 300 }),
        pods: [
          running('1', 1),
          ...ids.filter((id) => id !== '1').map((id) => pod(`iota-dac-${id}-g1`, id, 'Failed', 900)),
        ],
      }),
    );

    expect(decision.actions.filter((a) => a.type === 'create')).toHaveLength(9);
    expect(decision.actions.filter((a) => a.type === 'recycle').map((a) => a.instanceId)).toEqual(['1']);
    expect(decision.alerts).toEqual([]);
  });
});

describe('decide: crash-loop back-off', () => {
  const backoff = (streak: number, untilSecondsFromNow: number, healthySinceSecondsAgo?: number) => ({
    streak,
    delayMs: backoffDelayMs(streak),
    until: NOW + s(untilSecondsFromNow),
    ...(healthySinceSecondsAgo === undefined ? {} : { healthySince: ago(healthySinceSecondsAgo) }),
  });
  const restarted = (pod: string, generation: number, restarts: number, wait: ReturnType<typeof backoff>) => ({
    ...recordOf(pod, generation),
    action: 'recycled' as const,
    restarts,
    backoff: wait,
  });

  it('waits 10 s after the first restart in a row, doubling up to 5 min', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 40].map((streak) => backoffDelayMs(streak) / 1000)).toEqual([
      10, 20, 40, 80, 160, 300, 300, 300,
    ]);
  });

  it('does not recycle a silent instance while its back-off lasts, and spends no recycle of the cap on it', () => {
    const decision = decide(
      input({
        settings: { ...DEFAULT_RECONCILE_SETTINGS, maxRecyclesPerRun: 1 },
        instanceIds: ['0', '1', '2', '3'],
        heartbeats: beats({ '1': 300, '2': 1, '3': 1 }),
        pods: [running('0', 3, 130), running('1', 1), running('2', 1), running('3', 1)],
        records: new Map([['0', restarted('iota-dac-0-g3', 3, 2, backoff(2, 5))]]),
      }),
    );

    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['recycle 1']);
    expect(decision.silent).toEqual(['0', '1']);
    expect(decision.heldBack).toEqual([
      {
        instanceId: '0',
        pod: 'iota-dac-0-g3',
        reason:
          'no heartbeat ever (timeout 90 s); pod iota-dac-0-g3 up 130 s; not recycled: crash-loop back-off: 5 s left of 20 s after restart 2 in a row',
      },
    ]);
    expect(decision.alerts).toEqual([]);
    expect(decision.records.map((r) => r.instanceId)).not.toContain('0');
  });

  it('recycles once the wait is over and doubles the next one', () => {
    const decision = decide(
      input({
        instanceIds: ['0'],
        pods: [running('0', 3, 130)],
        records: new Map([['0', restarted('iota-dac-0-g3', 3, 2, backoff(2, 0))]]),
      }),
    );

    expect(decision.actions.map((a) => `${a.type} ${a.instanceId}`)).toEqual(['recycle 0']);
    expect(decision.records[0]!.record).toMatchObject({
      action: 'recycled',
      pod: 'iota-dac-0-g4',
      restarts: 3,
      backoff: { streak: 3, delayMs: s(40), until: NOW + s(40) },
    });
  });

  it('keeps a dead pod while the back-off lasts, recording its phase, and replaces it once the wait is over', () => {
    const dead = pod('iota-rules-engine-0-g3', '0', 'Failed', 20);
    const stored = restarted('iota-rules-engine-0-g3', 3, 3, backoff(3, 25));

    const waiting = decide(input({ kind: RULE, instanceIds: ['0'], pods: [dead], records: new Map([['0', stored]]) }));
    const later = decide(
      input({
        kind: RULE,
        now: NOW + s(25),
        instanceIds: ['0'],
        pods: [dead],
        records: new Map([['0', { ...stored, phase: 'Failed' }]]),
      }),
    );

    expect(waiting.actions).toEqual([]);
    expect(waiting.heldBack).toEqual([
      {
        instanceId: '0',
        pod: 'iota-rules-engine-0-g3',
        reason:
          'pod iota-rules-engine-0-g3 is Failed; not replaced: crash-loop back-off: 25 s left of 40 s after restart 3 in a row',
      },
    ]);
    expect(waiting.records).toEqual([{ instanceId: '0', record: { ...stored, phase: 'Failed' } }]);
    expect(later.actions.map((a) => `${a.type} ${a.name}`)).toEqual([
      'delete iota-rules-engine-0-g3',
      'create iota-rules-engine-0-g4',
    ]);
    expect(later.records[0]!.record).toMatchObject({
      action: 'replaced',
      restarts: 4,
      backoff: { streak: 4, delayMs: s(80), until: NOW + s(25 + 80) },
    });
  });

  it('never waits longer than 5 min', () => {
    const decision = decide(
      input({
        instanceIds: ['0'],
        pods: [running('0', 9, 400)],
        records: new Map([['0', restarted('iota-dac-0-g9', 9, 8, backoff(8, -1))]]),
      }),
    );

    expect(decision.records[0]!.record.backoff).toEqual({ streak: 9, delayMs: s(300), until: NOW + s(300) });
  });

  it('starts a pod for an instance that has none at once: the back-off delays restarts, not a first start', () => {
    const stored: InstanceRecord = {
      action: 'error',
      reason: 'no pod',
      error: 'HTTP 500',
      pod: 'iota-dac-0-g4',
      generation: 4,
      at: ago(5),
      restarts: 3,
      backoff: backoff(3, 35),
    };
    const decision = decide(input({ instanceIds: ['0'], records: new Map([['0', stored]]) }));

    expect(decision.actions.map((a) => `${a.type} ${a.name}`)).toEqual(['create iota-dac-0-g5']);
    expect(decision.records[0]!.record).toMatchObject({ action: 'created', restarts: 3, backoff: backoff(3, 35) });
  });

  it('notes when a backed-off instance is first heard from its new pod', () => {
    const stored = restarted('iota-dac-0-g3', 3, 2, backoff(2, -100));
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 2 }),
        pods: [running('0', 3, 130)],
        records: new Map([['0', stored]]),
      }),
    );

    expect(decision.records).toEqual([
      { instanceId: '0', record: { ...stored, backoff: { ...backoff(2, -100), healthySince: NOW } } },
    ]);
  });

  it('drops the back-off once the instance has stayed healthy for 10 min, keeping its restart count', () => {
    const healthyFor = (seconds: number) =>
      decide(
        input({
          instanceIds: ['0'],
          heartbeats: beats({ '0': 2 }),
          pods: [running('0', 3, 1000)],
          records: new Map([['0', restarted('iota-dac-0-g3', 3, 2, backoff(2, -900, seconds))]]),
        }),
      );

    expect(healthyFor(599).records).toEqual([]);
    expect(healthyFor(600).records).toEqual([
      { instanceId: '0', record: { ...recordOf('iota-dac-0-g3', 3), action: 'recycled', restarts: 2 } },
    ]);
  });

  it('starts the 10 min again after a break in health', () => {
    const stored = restarted('iota-dac-0-g3', 3, 2, backoff(2, -900, 500));
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 95 }),
        pods: [running('0', 3, 100)],
        records: new Map([['0', stored]]),
      }),
    );

    expect(decision.actions).toEqual([]);
    expect(decision.records).toEqual([{ instanceId: '0', record: { ...stored, backoff: backoff(2, -900) } }]);
  });

  it('does not count a heartbeat older than the pod as its health', () => {
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 40 }),
        pods: [running('0', 3, 30)],
        records: new Map([['0', restarted('iota-dac-0-g3', 3, 2, backoff(2, -20))]]),
      }),
    );

    expect(decision.records).toEqual([]);
  });

  it('judges a kind without heartbeats healthy while its pod is Running', () => {
    const stored = { ...restarted('iota-rules-engine-0-g2', 2, 1, backoff(1, -5)) };
    const decision = decide(
      input({
        kind: RULE,
        instanceIds: ['0'],
        pods: [pod('iota-rules-engine-0-g2', '0', 'Running', 15)],
        records: new Map([['0', stored]]),
      }),
    );

    expect(decision.records).toEqual([
      { instanceId: '0', record: { ...stored, backoff: { ...backoff(1, -5), healthySince: NOW } } },
    ]);
  });

  it('waits only 10 s again after the first restart once the back-off was dropped', () => {
    const decision = decide(
      input({
        instanceIds: ['0'],
        heartbeats: beats({ '0': 300 }),
        pods: [running('0', 7, 4000)],
        records: new Map([['0', { ...recordOf('iota-dac-0-g7', 7), restarts: 6 }]]),
      }),
    );

    expect(decision.records[0]!.record).toMatchObject({
      action: 'recycled',
      restarts: 7,
      backoff: { streak: 1, delayMs: s(10), until: NOW + s(10) },
    });
  });

  it('still counts instances waiting out a back-off as silent for the outage guard', () => {
    const decision = decide(
      input({
        instanceIds: ['0', '1', '2'],
        heartbeats: beats({ '2': 1 }),
        pods: [running('0', 2, 300), running('1', 1), running('2', 1)],
        records: new Map([['0', restarted('iota-dac-0-g2', 2, 1, backoff(1, 5))]]),
      }),
    );

    expect(decision.alerts.map((a) => a.type)).toEqual(['fleet-silent']);
    expect(decision.actions).toEqual([]);
  });
});
