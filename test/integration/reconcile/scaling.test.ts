/**
 * Elastic scaling end to end on the Kubernetes simulator: pod CPU scripted
 * from each instance's load (resources × CPU per resource), reconcile run
 * once a minute on the simulator's clock. A ramp 3 → 6 → 3 instances, in
 * waves, with the end state checked after every run: each resource in
 * exactly one list, counters equal to the lists, the index agreeing, and the
 * moves equal to the minimum.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { KindConfig } from '../../../lib/config/kinds.js';
import { Metrics } from '../../../lib/metrics.js';
import type { ReconcileReport } from '../../../lib/reconcile/reconcile.js';
import type { ScaleReport } from '../../../lib/reconcile/autoscale.js';
import type { StoreAdapter } from '../../support/stores.js';
import { type Harness, startHarness, THING } from './harness.js';
import { expectConsistent, ids, scriptLoad } from './scaling-support.js';

const MINUTE = 60_000;
const RESOURCES = 3000;

const SCALING_THING: KindConfig = {
  ...THING,
  scaling: {
    enabled: true,
    targetCpuUtilization: 60,
    minInstances: 3,
    maxInstances: 10,
    scaleDownMaxStep: 3,
    maxMovesPerRun: 600,
  },
};

const scalingOf = (report: ReconcileReport): ScaleReport => {
  const scaling = report.kinds.find((kind) => kind.resource === 'Thing')?.scaling;
  if (!scaling) throw new Error(`no scaling report: ${JSON.stringify(report)}`);
  return scaling;
};

describe.each<StoreAdapter>(['sqlite', 'zookeeper'])('elastic scaling on %s', (adapter) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('ramps 3 → 6 → 3 instances, moving the minimum in waves, every resource in exactly one list throughout', async () => {
    h = await startHarness({ adapter, kinds: [SCALING_THING], settings: { startupGraceMs: 30_000 } });
    const load = scriptLoad(h, SCALING_THING);
    await h.instances(SCALING_THING, 3);
    await h.app.orchestrator.assign('Thing', ids(RESOURCES));
    // 1000 resources × 0.3 m = 300 m of a 250 m request: 120 %, twice the target.
    load.millisPerResource = 0.3;
    const minute = async (): Promise<ReconcileReport> => {
      const report = await load.run(MINUTE);
      await expectConsistent(h, 'Thing', ids(RESOURCES));
      return report;
    };

    // Pods start; nothing serves yet, so nothing is known.
    expect(scalingOf(await load.run(0))).toMatchObject({ current: 3, direction: 'hold' });

    const emf: string[] = [];
    const out = scalingOf(
      await load.run(MINUTE, { metrics: new Metrics('IotaOrchestrator', {}, (line) => emf.push(line)) }),
    );
    await expectConsistent(h, 'Thing', ids(RESOURCES));
    expect(out).toMatchObject({ current: 3, desired: 6, direction: 'up', opened: ['3', '4', '5'], moved: 0 });
    expect(out.reason).toContain('cpu 120% of target 60%');
    expect(out.remainingMoves).toBe(1500);
    const perKind = emf.map((line) => JSON.parse(line) as Record<string, unknown>).find((m) => m.Resource === 'Thing');
    expect(perKind).toMatchObject({ Resource: 'Thing', CurrentInstances: 3, DesiredInstances: 6, ResourcesMoved: 0 });
    expect(h.livePods(SCALING_THING, '5')).toHaveLength(1);
    // Their workers are starting: a new resource goes to a serving instance, not to wait on an empty new one.
    // (Which of 0-2: the least loaded; the concurrent multis of the first assign may have left them a few apart.)
    const early = await h.app.orchestrator.assign('Thing', ['early-1', 'early-2', 'early-3']);
    expect(early.assigned).toHaveLength(3);
    for (const { instanceId } of early.assigned) expect(['0', '1', '2']).toContain(instanceId);
    await h.app.orchestrator.unassign('Thing', ['early-1', 'early-2', 'early-3']);

    // The new workers serve from their first heartbeat: waves of at most 600 moves fill them.
    const waves: ScaleReport[] = [];
    for (let run = 0; run < 5 && (waves.at(-1)?.remainingMoves ?? 1) > 0; run++) waves.push(scalingOf(await minute()));
    expect(waves.map((wave) => wave.moved)).toEqual([600, 600, 300]);
    expect(waves.every((wave) => wave.direction === 'hold')).toBe(true);
    const spread = await h.app.orchestrator.read('Thing');
    expect(spread.map((instance) => instance.used)).toEqual([500, 500, 500, 500, 500, 500]);

    // Load falls to 15 %: the pool shrinks only once the window has only lower recommendations.
    load.millisPerResource = 0.075;
    const downs: ScaleReport[] = [];
    for (let run = 0; run < 8 && !downs.some((report) => report.direction === 'down'); run++)
      downs.push(scalingOf(await minute()));
    const down = downs.at(-1)!;
    expect(downs.slice(0, -1).every((report) => report.direction === 'hold')).toBe(true);
    expect(down).toMatchObject({ current: 6, desired: 3, direction: 'down', drainStarted: ['3', '4', '5'] });
    expect(down.moved).toBe(600);

    // A draining instance takes no new resource while it empties.
    const during = await h.app.orchestrator.assign('Thing', ['late-1', 'late-2', 'late-3']);
    expect(during.assigned.every((placement) => ['0', '1', '2'].includes(placement.instanceId))).toBe(true);
    await h.app.orchestrator.unassign('Thing', ['late-1', 'late-2', 'late-3']);

    // Each drained instance goes as soon as it is empty, lowest first (the plan empties them in order).
    const drains: ScaleReport[] = [down];
    const drained = (): string[] => drains.flatMap((report) => report.closed);
    for (let run = 0; run < 5 && drained().length < 3; run++) drains.push(scalingOf(await minute()));
    expect(drains.map((report) => report.moved)).toEqual([600, 600, 300]);
    expect(drains.map((report) => report.closed)).toEqual([['3'], ['4'], ['5']]);

    const after = await h.app.orchestrator.read('Thing');
    expect(after.map((instance) => [instance.id, instance.used, instance.count])).toEqual([
      ['0', 1000, 5000],
      ['1', 1000, 5000],
      ['2', 1000, 5000],
    ]);
    for (const id of ['3', '4', '5']) expect(h.livePods(SCALING_THING, id)).toEqual([]);
    const moved = [...waves, ...drains].reduce((sum, report) => sum + report.moved, 0);
    // The minimum for 3 → 6 is 1500 (500 onto each new instance); for 6 → 3 the 1500 on the drained ones.
    expect(moved).toBe(3000);

    const view = await h.app.orchestrator.describe('Thing');
    expect(view.scaling).toMatchObject({ enabled: true, current: 3, desired: 3, draining: [], moves: null });
    expect(view.scaling.lastDecision).toMatchObject({ from: 6, to: 3 });
    expect(view.instances[0]!.usage?.cpuPercent).toBeCloseTo(30, 0);
  });
});
