/**
 * Elastic scaling on one scripted hour of load, one sample per minute (the
 * reconcile schedule): a ramp, a spike, a noisy plateau and a ramp down. Two
 * autoscalers replay the same trace:
 *   ours       decideScale with default settings (target CPU 60 %), then the
 *              minimal-movement rebalance;
 *   reference  the Kubernetes HPA with its default behaviour, then the legacy
 *              from-scratch orchestrate.
 * Load model: the load is in percent of one instance's CPU request (100 = one
 * instance fully busy). Resources are spread evenly, so every instance's
 * utilization is load / instances; a starting instance holds its share
 * unserved. An instance created at the end of minute t serves from minute
 * t + READY_AFTER; serving instances report their CPU, starting ones nothing.
 * Figures, per minute summed over the hour: instances above the target;
 * instances beyond ceil(load / target); scale direction changes; the minutes
 * from the spike until enough instances serve; resources moved against the
 * fewest any balanced re-orchestration to the same counts needs.
 * Deterministic (seeded). Prints figures; asserts nothing.
 *
 *   npx tsx bench/scaling.ts
 */
import { pathToFileURL } from 'node:url';
import { resolveScaling } from '../lib/config/scaling.js';
import { LEGACY_LIMITS } from '../lib/domain/options.js';
import { rebalance } from '../lib/domain/rebalance.js';
import { decideScale, type PodMetrics, type ScaleEvent, type ScaleRecommendation } from '../lib/reconcile/scale.js';
import { legacyOrchestrate } from '../test/support/legacy.js';
import { applyPlan, countMoves } from '../test/support/plans.js';

const TARGET_CPU = 60;
const MINUTES = 60;
const START_INSTANCES = 4;
/** Minutes from the end of the run that creates an instance to its first minute of service. */
const READY_AFTER = 2;
const RESOURCES = 8000;
const CAPACITY = LEGACY_LIMITS.resourcePerInstance.default;
const SPIKE = { from: 15, to: 19, load: 1200 };
const PLATEAU = { from: 20, to: 44, load: 700, noise: 0.1 };
const SEED = 0x5ca1e;
const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

/** mulberry32: the same noise on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Load per minute: ramp 240 → 600, spike 1200, plateau 700 ± 10 %, ramp down 700 → 180. */
export function loadTrace(): number[] {
  const random = seeded(SEED);
  const between = (from: number, to: number, step: number, steps: number): number =>
    Math.round(from + ((to - from) * step) / steps);
  return Array.from({ length: MINUTES }, (_, minute) => {
    if (minute < SPIKE.from) return between(240, 600, minute, SPIKE.from - 1);
    if (minute <= SPIKE.to) return SPIKE.load;
    if (minute <= PLATEAU.to) return Math.round(PLATEAU.load * (1 + PLATEAU.noise * (2 * random() - 1)));
    return between(PLATEAU.load, 180, minute - PLATEAU.to - 1, MINUTES - PLATEAU.to - 2);
  });
}

const needed = (load: number): number => Math.ceil(load / TARGET_CPU);
const capacityFor = (instances: number): number => Math.max(CAPACITY, Math.ceil(RESOURCES / instances));
/** The same rounding on both sides: ceil without floating-point dust. */
const ceilCount = (value: number): number => Math.ceil(value - 1e-9);

/** Decides the next instance count from this minute's pods. */
type Autoscaler = (now: number, current: number, pods: readonly PodMetrics[]) => number;

/** The assignment over `instances` instances that follows `assignment`. */
type Reorchestrate = (assignment: Map<string, string[]>, instances: number) => Map<string, string[]>;

function ours(): Autoscaler {
  const settings = resolveScaling({ enabled: true, targetCpuUtilization: TARGET_CPU });
  let history: readonly ScaleRecommendation[] = [];
  let lastDecision: ScaleEvent | undefined;
  return (now, current, pods) => {
    const decision = decideScale({ resource: 'Thing', settings, now, current, pods, history, lastDecision });
    history = decision.history;
    if (decision.direction !== 'hold') {
      lastDecision = { at: now, from: current, to: decision.desired, direction: decision.direction };
    }
    return decision.desired;
  };
}

/**
 * The HPA (pkg/controller/podautoscaler) for one CPU utilization metric with
 * the default behaviour: tolerance 0.1; not-yet-ready pods count as 0 % on a
 * scale-up and are left out otherwise; scale-up window 0 s, policies +100 %
 * or +4 pods per 15 s (the larger); scale-down window 300 s, policy 100 % per
 * 15 s; min 1, max 100. One evaluation per minute, so each policy period
 * starts at the current count. The trace has no missing metrics.
 */
function reference(): Autoscaler {
  const tolerance = 0.1;
  const downWindowMs = 300_000;
  let recommendations: ScaleRecommendation[] | undefined;
  const calculate = (current: number, pods: readonly PodMetrics[]): number => {
    const values = pods.flatMap((pod) => (pod.ready && pod.cpuPercent !== undefined ? [pod.cpuPercent] : []));
    const unready = pods.filter((pod) => !pod.ready).length;
    if (values.length === 0) return current;
    const sum = values.reduce((total, value) => total + value, 0);
    const ratio = sum / values.length / TARGET_CPU;
    if (!(unready > 0 && ratio > 1)) {
      return Math.abs(1 - ratio) <= tolerance ? current : ceilCount(ratio * values.length);
    }
    const counted = values.length + unready;
    const newRatio = sum / counted / TARGET_CPU;
    if (Math.abs(1 - newRatio) <= tolerance || newRatio < 1) return current;
    return Math.max(current, ceilCount(newRatio * counted));
  };
  return (now, current, pods) => {
    recommendations ??= [{ at: now, desired: current }];
    const desired = calculate(current, pods);
    const inWindow = recommendations.filter((entry) => entry.at > now - downWindowMs);
    const down = Math.max(desired, ...inWindow.map((entry) => entry.desired));
    const stabilized = Math.min(Math.max(current, desired), down);
    recommendations = [...inWindow, { at: now, desired }];
    if (stabilized > current) return Math.min(stabilized, Math.max(current + 4, Math.ceil(current * 2)), 100);
    return Math.max(stabilized, 1);
  };
}

/** Carries out the rebalance plan step by step, then deletes the instances it emptied. */
const minimal: Reorchestrate = (assignment, instances) => {
  const result = rebalance(assignment, instances, capacityFor(instances));
  const next = applyPlan(assignment, result.plan);
  for (const id of result.removed) next.delete(id);
  return next;
};

const legacy: Reorchestrate = (assignment, instances) => {
  const ids = [...assignment.values()].flat();
  return legacyOrchestrate(ids, instances, Math.ceil(ids.length / instances));
};

interface Run {
  readonly name: string;
  readonly instances: number[];
  readonly ready: number[];
  overloaded: number;
  overProvisioned: number;
  instanceMinutes: number;
  readonly events: { minute: number; direction: 'up' | 'down' }[];
  moved: number;
  minimum: number;
  largestMove: number;
  runsToCapacity: number | undefined;
}

function replay(name: string, trace: readonly number[], autoscaler: Autoscaler, reorchestrate: Reorchestrate): Run {
  const ids = Array.from({ length: RESOURCES }, (_, i) => `thing-${String(i).padStart(5, '0')}`);
  let assignment = legacyOrchestrate(ids, START_INSTANCES, Math.ceil(RESOURCES / START_INSTANCES));
  const readyFrom = new Map([...assignment.keys()].map((id) => [id, 0]));
  const run: Run = {
    name,
    instances: [],
    ready: [],
    overloaded: 0,
    overProvisioned: 0,
    instanceMinutes: 0,
    events: [],
    moved: 0,
    minimum: 0,
    largestMove: 0,
    runsToCapacity: undefined,
  };
  trace.forEach((load, minute) => {
    const serving = [...assignment.keys()].filter((id) => (readyFrom.get(id) ?? 0) <= minute);
    const count = assignment.size;
    const utilization = load / count;
    run.instances.push(count);
    run.ready.push(serving.length);
    run.instanceMinutes += count;
    if (utilization > TARGET_CPU) run.overloaded += count;
    run.overProvisioned += Math.max(0, count - needed(load));
    if (minute >= SPIKE.from && run.runsToCapacity === undefined && serving.length >= needed(load)) {
      run.runsToCapacity = minute - SPIKE.from;
    }

    const pods: PodMetrics[] = [...assignment.keys()].map((instanceId) => {
      const ready = (readyFrom.get(instanceId) ?? 0) <= minute;
      return { instanceId, ready, cpuPercent: ready ? utilization : undefined };
    });
    const desired = autoscaler(T0 + minute * 60_000, count, pods);
    if (desired === count) return;
    run.events.push({ minute, direction: desired > count ? 'up' : 'down' });
    const next = reorchestrate(assignment, desired);
    const moved = countMoves(assignment, next);
    run.moved += moved;
    run.minimum += rebalance(assignment, desired, capacityFor(desired)).minimumMoves;
    run.largestMove = Math.max(run.largestMove, moved);
    for (const id of next.keys()) if (!assignment.has(id)) readyFrom.set(id, minute + READY_AFTER);
    for (const id of assignment.keys()) if (!next.has(id)) readyFrom.delete(id);
    assignment = next;
  });
  return run;
}

const flips = (run: Run, within?: { from: number; to: number }): number =>
  run.events.filter((event, i) => {
    const previous = run.events[i - 1];
    if (!previous || previous.direction === event.direction) return false;
    return !within || (previous.minute >= within.from && event.minute <= within.to);
  }).length;

function table(rows: string[][], log: (line: string) => void): void {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((cells) => (cells[column] ?? '').length)));
  for (const cells of rows) {
    log(
      `  ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ')}`,
    );
  }
}

export async function benchScaling(log: (line: string) => void = console.log): Promise<void> {
  const trace = loadTrace();
  log(
    `scaling: ${MINUTES} one-minute runs, load in % of one instance's CPU request, target ${TARGET_CPU}%, ` +
      `${RESOURCES} resources, ${START_INSTANCES} instances at the start, new instances serve ${READY_AFTER} runs after the decision`,
  );
  log(
    `trace (minute:load): ramp 0-${SPIKE.from - 1}, spike ${SPIKE.from}-${SPIKE.to}, plateau ${PLATEAU.from}-${PLATEAU.to} (±${PLATEAU.noise * 100}%, seed ${SEED}), ramp down ${PLATEAU.to + 1}-${MINUTES - 1}`,
  );
  for (let start = 0; start < MINUTES; start += 15) {
    log(
      `  ${trace
        .slice(start, start + 15)
        .map((load, i) => `${start + i}:${load}`)
        .join(' ')}`,
    );
  }

  const runs = [replay('ours', trace, ours(), minimal), replay('reference', trace, reference(), legacy)];

  log('instances per minute (needed = ceil(load / target); * = some not serving yet):');
  const lines: [string, (minute: number) => string][] = [
    ['minute', String],
    ['needed', (minute) => String(needed(trace[minute] ?? 0))],
    ...runs.map((run): [string, (minute: number) => string] => [
      run.name,
      (minute) => `${run.instances[minute]}${run.ready[minute] === run.instances[minute] ? '' : '*'}`,
    ]),
  ];
  for (let start = 0; start < MINUTES; start += 30) {
    for (const [label, cell] of lines) {
      const cells = trace.slice(start, start + 30).map((_, i) => cell(start + i).padStart(4));
      log(`  ${label.padEnd(9)}${cells.join('')}`);
    }
  }

  const rows: string[][] = [
    [
      'autoscaler',
      'above-target inst-min',
      'over-provisioned inst-min',
      'inst-min',
      'flips',
      'flips on plateau',
      'runs spike→capacity',
      'moved',
      'minimum',
      'moved/minimum',
      'largest move',
    ],
  ];
  for (const run of runs) {
    rows.push([
      run.name,
      String(run.overloaded),
      String(run.overProvisioned),
      String(run.instanceMinutes),
      String(flips(run)),
      String(flips(run, PLATEAU)),
      run.runsToCapacity === undefined ? 'never' : String(run.runsToCapacity),
      String(run.moved),
      String(run.minimum),
      run.minimum === 0 ? (run.moved === 0 ? '1.00' : 'inf') : (run.moved / run.minimum).toFixed(2),
      String(run.largestMove),
    ]);
  }
  table(rows, log);

  const [mine, ref] = runs as [Run, Run];
  const checks = [
    ['0 flips on the noisy plateau', flips(mine, PLATEAU) === 0],
    ['moved / minimum = 1.00', mine.moved === mine.minimum],
    ['fewer above-target instance-minutes than the reference', mine.overloaded < ref.overloaded],
    [
      `largest re-orchestration within maxMovesPerRun (${resolveScaling().maxMovesPerRun})`,
      mine.largestMove <= resolveScaling().maxMovesPerRun,
    ],
  ] as const;
  for (const [what, pass] of checks) log(`  ${what}: ${pass ? 'PASS' : 'FAIL'}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchScaling();
}
