import { describe, expect, it } from 'vitest';
import type { PodInfo, PodUsage } from '../../../lib/instances/port.js';
import { observeWorkers } from '../../../lib/reconcile/autoscale.js';

const T = Date.UTC(2024, 4, 1, 8, 0, 0);
const GRACE = 120_000;

const pod = (instanceId: string, startedAt: number, extra: Partial<PodInfo> = {}): PodInfo => ({
  name: `iota-dac-${instanceId}-g1`,
  resource: 'Thing',
  instanceId,
  phase: 'Running',
  startedAt,
  terminating: false,
  ...extra,
});
const usage = (instanceId: string, cpuPercent: number, name = `iota-dac-${instanceId}-g1`): PodUsage => ({
  name,
  instanceId,
  cpuMillis: cpuPercent * 2.5,
  memoryBytes: 64 * 2 ** 20,
  cpuPercent,
  memoryPercent: 25,
});
const instance = (id: string, draining = false) => ({ id, used: 10, count: draining ? 0 : 5000, draining });

describe('observeWorkers', () => {
  it('a heartbeat kind serves from a heartbeat sent since its pod started; its numbers count once past the grace', () => {
    const observation = observeWorkers({
      kind: { heartbeat: true },
      startupGraceMs: GRACE,
      now: T,
      instances: [instance('0'), instance('1'), instance('2'), instance('3')],
      pods: [
        pod('0', T - 600_000),
        pod('1', T - 60_000), // serving, inside the grace
        pod('2', T - 600_000), // its heartbeat is from the previous pod
        pod('3', T - 600_000, { phase: 'Pending' }),
      ],
      heartbeats: new Map([
        ['0', { at: T - 5_000 }],
        ['1', { at: T - 5_000 }],
        ['2', { at: T - 700_000 }],
        ['3', { at: T - 5_000 }],
      ]),
      usage: [usage('0', 80), usage('1', 95), usage('2', 10)],
    });

    expect([...observation.serving]).toEqual(['0', '1']);
    expect(observation.metrics).toEqual([
      { instanceId: '0', cpuPercent: 80, memoryPercent: 25, ready: true },
      { instanceId: '1', cpuPercent: 95, memoryPercent: 25, ready: false },
      { instanceId: '2', cpuPercent: 10, memoryPercent: 25, ready: false },
      { instanceId: '3', cpuPercent: undefined, memoryPercent: undefined, ready: false },
    ]);
    expect(observation.usage).toEqual({
      '0': { cpuPercent: 80, memoryPercent: 25 },
      '1': { cpuPercent: 95, memoryPercent: 25 },
      '2': { cpuPercent: 10, memoryPercent: 25 },
    });
  });

  it('a kind without heartbeats serves once Running; a draining instance is shown but not counted', () => {
    const observation = observeWorkers({
      kind: { heartbeat: false },
      startupGraceMs: GRACE,
      now: T,
      instances: [instance('0'), instance('1', true)],
      pods: [pod('0', T - 600_000), pod('1', T - 600_000)],
      heartbeats: new Map(),
      usage: [usage('0', 40), usage('1', 5)],
    });

    expect([...observation.serving]).toEqual(['0', '1']);
    expect(observation.metrics).toEqual([{ instanceId: '0', cpuPercent: 40, memoryPercent: 25, ready: true }]);
    expect(observation.usage['1']).toEqual({ cpuPercent: 5, memoryPercent: 25 });
  });

  it('reads the newest live pod of an instance: a terminating one and its usage are ignored', () => {
    const observation = observeWorkers({
      kind: { heartbeat: false },
      startupGraceMs: GRACE,
      now: T,
      instances: [instance('0')],
      pods: [
        pod('0', T - 900_000, { name: 'iota-dac-0-g1', terminating: true }),
        pod('0', T - 10_000, { name: 'iota-dac-0-g2' }),
      ],
      heartbeats: new Map(),
      usage: [usage('0', 99, 'iota-dac-0-g1')],
    });

    expect(observation.metrics).toEqual([
      { instanceId: '0', cpuPercent: undefined, memoryPercent: undefined, ready: false },
    ]);
    expect(observation.usage).toEqual({});
  });
});
