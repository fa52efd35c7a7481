import { describe, expect, it } from 'vitest';
import { resolveScaling, type ScalingConfig } from '../../../lib/config/scaling.js';
import { decideScale, type LoadSample, type PodMetrics, type ScaleInput } from '../../../lib/reconcile/scale.js';

const NOW = Date.UTC(2024, 4, 1, 8, 0, 0);
const ago = (seconds: number): number => NOW - seconds * 1000;
const rec = (at: number, desired: number) => ({ at, desired });
const CPU_60: ScalingConfig = { enabled: true, targetCpuUtilization: 60 };
const settings = (overrides: ScalingConfig = {}) => resolveScaling({ ...CPU_60, ...overrides });

const ready = (instanceId: string, cpuPercent?: number): PodMetrics => ({ instanceId, cpuPercent, ready: true });
const starting = (instanceId: string): PodMetrics => ({ instanceId, ready: false });
/** `current` ready pods, ids "0", "1", ..., all at the same CPU. */
const fleet = (current: number, cpuPercent: number): PodMetrics[] =>
  Array.from({ length: current }, (_, i) => ready(String(i), cpuPercent));

/** Every decision below is for Thing, with no alerts unless listed. */
const THING = { resource: 'Thing', alerts: [] };

const input = (overrides: Partial<ScaleInput>): ScaleInput => ({
  resource: 'Thing',
  settings: settings(),
  now: NOW,
  current: 4,
  pods: [],
  history: [],
  ...overrides,
});

/** The decision without its load samples: the trend has tests of its own (last describe). */
const decision = (given: ScaleInput) => {
  const { loads: _samples, ...rest } = decideScale(given);
  return rest;
};

describe('decideScale: before the metrics', () => {
  it('holds, and keeps no history, while scaling is disabled', () => {
    expect(decision(input({ settings: settings({ enabled: false }), pods: fleet(4, 180) }))).toEqual({
      ...THING,
      desired: 4,
      current: 4,
      direction: 'hold',
      reason: 'scaling disabled',
      recommendation: 4,
      history: [],
    });
  });

  it('holds a kind that has no instances yet', () => {
    expect(decision(input({ current: 0 }))).toEqual({
      ...THING,
      desired: 0,
      current: 0,
      direction: 'hold',
      reason: 'no instances: the kind is not orchestrated yet',
      recommendation: 0,
      history: [],
    });
  });

  it('goes to minInstances at once from below it, whatever the metrics say', () => {
    expect(decision(input({ settings: settings({ minInstances: 3 }), current: 2, pods: fleet(2, 10) }))).toEqual({
      ...THING,
      desired: 3,
      current: 2,
      direction: 'up',
      reason: '2 instances, below minInstances 3',
      recommendation: 3,
      history: [rec(NOW, 2), rec(NOW, 3)],
    });
  });

  it('goes to maxInstances at once from above it, without waiting for the window', () => {
    expect(decision(input({ settings: settings({ maxInstances: 5 }), current: 7, pods: fleet(7, 100) }))).toEqual({
      ...THING,
      desired: 5,
      current: 7,
      direction: 'down',
      reason: '7 instances, above maxInstances 5',
      recommendation: 5,
      history: [rec(NOW, 7), rec(NOW, 5)],
    });
  });
});

describe('decideScale: the recommendation', () => {
  it('recommends ceil(current × utilization / target) and scales up on the first run', () => {
    expect(decision(input({ current: 2, pods: fleet(2, 180) }))).toEqual({
      ...THING,
      desired: 6,
      current: 2,
      direction: 'up',
      reason: 'cpu 180% of target 60% → 6',
      recommendation: 6,
      history: [rec(NOW, 2), rec(NOW, 6)],
    });
  });

  it('holds within the tolerance, its edge included', () => {
    expect(decision(input({ pods: fleet(4, 66) }))).toEqual({
      ...THING,
      desired: 4,
      current: 4,
      direction: 'hold',
      reason: 'cpu 66% of target 60%, within ±10% → 4',
      recommendation: 4,
      history: [rec(NOW, 4), rec(NOW, 4)],
    });
  });

  it('counts starting instances at 0% on a scale-up: the load they will take is already measured', () => {
    const pods = [ready('0', 90), ready('1', 90), ready('2', 90), ready('3', 90), starting('4'), starting('5')];

    expect(decision(input({ current: 6, pods }))).toEqual({
      ...THING,
      desired: 6,
      current: 6,
      direction: 'hold',
      reason: 'cpu 90% of target 60%, 60% counting 2 starting at 0%, within ±10% → 6',
      recommendation: 6,
      history: [rec(NOW, 6), rec(NOW, 6)],
    });
  });

  it('still scales up when the load is too much even with starting instances counted at 0%', () => {
    const pods = [ready('0', 120), ready('1', 120), ready('2', 120), ready('3', 120), starting('4'), starting('5')];

    expect(decision(input({ current: 6, pods }))).toEqual({
      ...THING,
      desired: 8,
      current: 6,
      direction: 'up',
      reason: 'cpu 120% of target 60%, 80% counting 2 starting at 0% → 8',
      recommendation: 8,
      history: [rec(NOW, 6), rec(NOW, 8)],
    });
  });

  it('holds when counting starting instances at 0% reverses a scale-up', () => {
    const pods = [ready('0', 96), starting('1'), starting('2'), starting('3')];

    expect(decision(input({ pods }))).toEqual({
      ...THING,
      desired: 4,
      current: 4,
      direction: 'hold',
      reason: 'cpu 96% of target 60%, 24% counting 3 starting at 0%, direction reversed → 4',
      recommendation: 4,
      history: [rec(NOW, 4), rec(NOW, 4)],
    });
  });

  it('counts starting instances and ready ones without metrics at the target on a scale-down', () => {
    const pods = [ready('0', 20), ready('1', 20), ready('2'), starting('3')];
    const history = [rec(ago(240), 3), rec(ago(120), 2)];

    expect(decision(input({ current: 4, pods, history }))).toEqual({
      ...THING,
      desired: 3,
      current: 4,
      direction: 'down',
      reason: 'cpu 20% of target 60%, 40% counting 1 starting and 1 without cpu at target → 3',
      recommendation: 3,
      history: [...history, rec(NOW, 3)],
    });
  });

  it('takes the larger recommendation of CPU and memory', () => {
    const pods = fleet(4, 30).map((pod) => ({ ...pod, memoryPercent: 105 }));

    expect(decision(input({ settings: settings({ targetMemoryUtilization: 70 }), pods }))).toEqual({
      ...THING,
      desired: 6,
      current: 4,
      direction: 'up',
      reason: 'cpu 30% of target 60% → 2; memory 105% of target 70% → 6',
      recommendation: 6,
      history: [rec(NOW, 4), rec(NOW, 6)],
    });
  });

  it('holds without an alert while every instance is still starting', () => {
    expect(decision(input({ current: 3, pods: [starting('0'), starting('1'), starting('2')] }))).toEqual({
      ...THING,
      desired: 3,
      current: 3,
      direction: 'hold',
      reason: 'cpu: no ready instance reports it; hold',
      recommendation: 3,
      history: [rec(NOW, 3), rec(NOW, 3)],
    });
  });

  it('holds and alerts when more than half of the ready instances report no metrics (no pod entry counts as none)', () => {
    expect(decision(input({ current: 4, pods: [ready('0', 10), ready('1')] }))).toEqual({
      ...THING,
      desired: 4,
      current: 4,
      direction: 'hold',
      reason: 'cpu missing on 3 of 4 ready instances; hold: more than half without metrics',
      recommendation: 4,
      history: [rec(NOW, 4), rec(NOW, 4)],
      alerts: [
        { type: 'metrics-missing', resource: 'Thing', metric: 'cpu', missing: 3, ready: 4, at: NOW, instances: ['1'] },
      ],
    });
  });
});

describe('decideScale: scale-up', () => {
  it('adds at most the larger of +100% and +4 by default', () => {
    expect(decision(input({ current: 3, pods: fleet(3, 400) }))).toEqual({
      ...THING,
      desired: 7,
      current: 3,
      direction: 'up',
      reason: 'cpu 400% of target 60% → 20; at most +4 per run → 7',
      recommendation: 20,
      history: [rec(NOW, 3), rec(NOW, 20)],
    });
  });

  it('adds at most scaleUpMaxStep when it is set', () => {
    const given = input({ settings: settings({ scaleUpMaxStep: 2 }), current: 10, pods: fleet(10, 300) });

    expect(decision(given)).toEqual({
      ...THING,
      desired: 12,
      current: 10,
      direction: 'up',
      reason: 'cpu 300% of target 60% → 50; at most +2 per run → 12',
      recommendation: 50,
      history: [rec(NOW, 10), rec(NOW, 50)],
    });
  });

  it('scales up right after a scale-down: capacity first', () => {
    const lastDecision = { at: ago(60), from: 5, to: 4, direction: 'down' as const };

    expect(decision(input({ pods: fleet(4, 90), history: [rec(ago(60), 4)], lastDecision }))).toEqual({
      ...THING,
      desired: 6,
      current: 4,
      direction: 'up',
      reason: 'cpu 90% of target 60% → 6',
      recommendation: 6,
      history: [rec(ago(60), 4), rec(NOW, 6)],
    });
  });

  it('stops at maxInstances and alerts when the recommendation is above it', () => {
    expect(decision(input({ settings: settings({ maxInstances: 8 }), current: 6, pods: fleet(6, 120) }))).toEqual({
      ...THING,
      desired: 8,
      current: 6,
      direction: 'up',
      reason: 'cpu 120% of target 60% → 12; capped at maxInstances 8',
      recommendation: 12,
      history: [rec(NOW, 6), rec(NOW, 12)],
      alerts: [{ type: 'scale-limit', resource: 'Thing', maxInstances: 8, recommended: 12, at: NOW }],
    });
  });

  it('holds and alerts at maxInstances while still hot', () => {
    expect(decision(input({ settings: settings({ maxInstances: 8 }), current: 8, pods: fleet(8, 90) }))).toEqual({
      ...THING,
      desired: 8,
      current: 8,
      direction: 'hold',
      reason: 'cpu 90% of target 60% → 12; hold: at maxInstances 8',
      recommendation: 12,
      history: [rec(NOW, 8), rec(NOW, 12)],
      alerts: [{ type: 'scale-limit', resource: 'Thing', maxInstances: 8, recommended: 12, at: NOW }],
    });
  });
});

describe('decideScale: scale-down', () => {
  it('holds while a recommendation within the window is not lower than the current count', () => {
    const history = [rec(ago(240), 6), rec(ago(60), 3)];

    expect(decision(input({ current: 6, pods: fleet(6, 30), history }))).toEqual({
      ...THING,
      desired: 6,
      current: 6,
      direction: 'hold',
      reason: 'cpu 30% of target 60% → 3; hold: 6 recommended within the last 300 s',
      recommendation: 3,
      history: [...history, rec(NOW, 3)],
    });
  });

  it('removes at most scaleDownMaxStep (default 1) per run once every recent recommendation is lower', () => {
    const history = [rec(ago(240), 4), rec(ago(60), 3)];

    expect(decision(input({ current: 6, pods: fleet(6, 30), history }))).toEqual({
      ...THING,
      desired: 5,
      current: 6,
      direction: 'down',
      reason: 'cpu 30% of target 60% → 3; at most -1 per run → 5',
      recommendation: 3,
      history: [...history, rec(NOW, 3)],
    });
  });

  it('goes down only to the highest recommendation within the window', () => {
    const history = [rec(ago(240), 4), rec(ago(60), 3)];
    const given = input({ settings: settings({ scaleDownMaxStep: 5 }), current: 6, pods: fleet(6, 30), history });

    expect(decision(given)).toEqual({
      ...THING,
      desired: 4,
      current: 6,
      direction: 'down',
      reason: 'cpu 30% of target 60% → 3; 4 recommended within the last 300 s → 4',
      recommendation: 3,
      history: [...history, rec(NOW, 3)],
    });
  });

  it('seeds an empty history with the current count, so the first scale-down waits a whole window', () => {
    expect(decision(input({ current: 6, pods: fleet(6, 30), history: [] }))).toEqual({
      ...THING,
      desired: 6,
      current: 6,
      direction: 'hold',
      reason: 'cpu 30% of target 60% → 3; hold: 6 recommended within the last 300 s',
      recommendation: 3,
      history: [rec(NOW, 6), rec(NOW, 3)],
    });
  });

  it('does not seed a zero-second window: it scales down on the first run', () => {
    const given = input({ settings: settings({ scaleDownStabilizationSeconds: 0 }), current: 6, pods: fleet(6, 30) });

    expect(decision(given)).toEqual({
      ...THING,
      desired: 5,
      current: 6,
      direction: 'down',
      reason: 'cpu 30% of target 60% → 3; at most -1 per run → 5',
      recommendation: 3,
      history: [rec(NOW, 3)],
    });
  });

  it('never scales down within the window after a scale-up, even with the history lost', () => {
    const lastDecision = { at: ago(120), from: 4, to: 6, direction: 'up' as const };

    expect(decision(input({ current: 6, pods: fleet(6, 30), history: [rec(ago(60), 3)], lastDecision }))).toEqual({
      ...THING,
      desired: 6,
      current: 6,
      direction: 'hold',
      reason: 'cpu 30% of target 60% → 3; hold: scaled up 120 s ago, no scale-down within 300 s of a scale-up',
      recommendation: 3,
      history: [rec(ago(60), 3), rec(NOW, 3)],
    });
  });

  it('keeps only the recommendations newer than the window and not in the future', () => {
    const history = [rec(ago(300), 9), rec(ago(299), 2), rec(ago(-60), 9)];

    expect(decision(input({ current: 6, pods: fleet(6, 30), history }))).toEqual({
      ...THING,
      desired: 5,
      current: 6,
      direction: 'down',
      reason: 'cpu 30% of target 60% → 3; at most -1 per run → 5',
      recommendation: 3,
      history: [rec(ago(299), 2), rec(NOW, 3)],
    });
  });

  it('stops a scale-down at minInstances', () => {
    const history = [rec(ago(60), 1)];
    const floorOf3 = settings({ minInstances: 3, scaleDownMaxStep: 5 });
    const given = input({ settings: floorOf3, current: 6, pods: fleet(6, 10), history });

    expect(decision(given)).toEqual({
      ...THING,
      desired: 3,
      current: 6,
      direction: 'down',
      reason: 'cpu 10% of target 60% → 1; minInstances 3 → 3',
      recommendation: 1,
      history: [...history, rec(NOW, 1)],
    });
  });

  it('holds at minInstances however idle', () => {
    const history = [rec(ago(60), 1)];
    const given = input({ settings: settings({ minInstances: 3 }), current: 3, pods: fleet(3, 10), history });

    expect(decision(given)).toEqual({
      ...THING,
      desired: 3,
      current: 3,
      direction: 'hold',
      reason: 'cpu 10% of target 60% → 1; hold: at minInstances 3',
      recommendation: 1,
      history: [...history, rec(NOW, 1)],
    });
  });
});

describe('decideScale: a rising load is met ahead of time', () => {
  const minute = 60;
  /** A load that rose 40 (percent of a request) in each of the last two minutes, on 4 instances. */
  const rising: LoadSample[] = [
    { at: ago(2 * minute), cpu: 160 },
    { at: ago(minute), cpu: 200 },
  ];

  it('projects a load that rose in each of the last two runs and scales up before the tolerance is crossed', () => {
    // 240 / 4 = 60 %: on target now; rising 40 a minute → 400 in 240 s, 100 % a pod → ceil(400 / 60) = 7.
    const result = decideScale(input({ pods: fleet(4, 60), loads: rising }));

    expect(result).toMatchObject({
      desired: 7,
      direction: 'up',
      recommendation: 7,
      reason: 'cpu 60% of target 60%, rising 40% per minute: 100% in 240 s → 7',
    });
    expect(result.loads).toEqual([...rising, { at: NOW, cpu: 240 }]);
  });

  it('takes the slower of the two rises', () => {
    const uneven: LoadSample[] = [
      { at: ago(2 * minute), cpu: 120 },
      { at: ago(minute), cpu: 220 },
    ];
    // Rises of 100 then 20: 20 a minute → 320 in 240 s → 80 % a pod → ceil(320 / 60) = 6.
    expect(decideScale(input({ pods: fleet(4, 60), loads: uneven }))).toMatchObject({ desired: 6, direction: 'up' });
  });

  it('does not project a load that fell in one of the last two runs (noise on a plateau)', () => {
    const noisy: LoadSample[] = [
      { at: ago(2 * minute), cpu: 260 },
      { at: ago(minute), cpu: 200 },
    ];
    expect(decideScale(input({ pods: fleet(4, 60), loads: noisy }))).toMatchObject({ desired: 4, direction: 'hold' });
  });

  it('does not scale for a projection within the tolerance', () => {
    const slow: LoadSample[] = [
      { at: ago(2 * minute), cpu: 230 },
      { at: ago(minute), cpu: 235 },
    ];
    // Rising 5 a minute: 260 in 240 s, 65 % a pod, within 60 % ± 10 %.
    expect(decideScale(input({ pods: fleet(4, 60), loads: slow }))).toMatchObject({ desired: 4, direction: 'hold' });
  });

  it('needs two rises: one earlier sample, or stale ones, give no trend', () => {
    const once = decideScale(input({ pods: fleet(4, 60), loads: [{ at: ago(minute), cpu: 200 }] }));
    const stale = decideScale(
      input({
        pods: fleet(4, 60),
        loads: [
          { at: ago(20 * minute), cpu: 160 },
          { at: ago(10 * minute), cpu: 200 },
        ],
      }),
    );
    expect([once.direction, stale.direction]).toEqual(['hold', 'hold']);
  });

  it('is off with scaleUpLookaheadSeconds 0', () => {
    const off = input({ settings: settings({ scaleUpLookaheadSeconds: 0 }), pods: fleet(4, 60), loads: rising });
    expect(decideScale(off)).toMatchObject({ desired: 4, direction: 'hold' });
  });

  it('counts starting instances at 0 % in the projection: a scale-up already under way is not repeated', () => {
    // The 7 of the first test are open: 4 ready at 60 % and 3 starting; 400 over 7 is 57 %, no further scale-up.
    const pods = [...fleet(4, 60), starting('4'), starting('5'), starting('6')];
    expect(decideScale(input({ current: 7, pods, loads: rising }))).toMatchObject({ desired: 7, direction: 'hold' });
  });

  it('keeps the last three samples, this run included', () => {
    const many: LoadSample[] = [{ at: ago(3 * minute), cpu: 100 }, ...rising];
    expect(decideScale(input({ pods: fleet(4, 60), loads: many })).loads).toEqual([...rising, { at: NOW, cpu: 240 }]);
  });

  it('neither projects nor keeps a run closer than a fifth of the lookahead to the last kept sample', () => {
    // 240 s ahead: samples 48 s apart at least. A fast loop 10 s after the last one would multiply noise 24 times.
    const close = decideScale(input({ now: ago(minute - 10), pods: fleet(4, 90), loads: rising }));
    expect(close).toMatchObject({ direction: 'up', recommendation: 6, reason: 'cpu 90% of target 60% → 6' });
    expect(close.loads).toEqual(rising);
  });
});
