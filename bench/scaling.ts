/**
 * Elastic scaling on one scripted hour of load, one reconcile run per minute,
 * instance by instance. Two systems replay the same trace:
 *   ours       decideScale with default settings (target CPU 60 %; the
 *              load trend kept between runs as reconcile keeps it), a
 *              scale-in floored at the instances the resources need; new
 *              resources by choosePlacement, avoiding warming instances;
 *              after a scale, waves of the minimal-movement rebalance onto
 *              the non-draining instances, towards serving ones only;
 *   reference  the Kubernetes HPA with its default behaviour; new resources
 *              by the legacy placement rule; after a scale, the legacy
 *              from-scratch orchestrate at once.
 *
 * Load. Every resource costs the same CPU share of one instance's CPU request
 * (BASE_COST % at the base rate). The trace sets, per minute, how many
 * resources exist and a rate factor applied to every resource's cost:
 *   ramp       resources are registered: 4000 at minute 0, +400 at the start
 *              of each minute 1-20 (12,000 from minute 20 on), factor 1;
 *   spike      minutes 15-19 every resource costs twice as much (a fleet-wide
 *              burst, e.g. devices flushing buffered data after an outage);
 *              registrations go on meanwhile: no resource is added for it;
 *   plateau    minutes 20-44, factor 1 ± 10 % (seeded noise, the same for
 *              every resource in a minute);
 *   ramp down  minutes 45-59 the factor falls linearly to 0.3 (devices report
 *              less often); no resource is removed.
 * An instance's utilization is the sum of its resources' cost, in percent of
 * its CPU request; an instance is above target when that exceeds the target.
 *
 * Instances. An instance opened by the run at the end of minute t serves from
 * minute t + READY_AFTER: the run at the end of minute t + READY_AFTER − 1
 * already sees its worker up (it may move resources there), and its first CPU
 * sample is for minute t + READY_AFTER. An instance opened by a placement at
 * the start of minute t counts as opened by the previous run. Resources on an
 * instance that does not serve yet are unserved that minute; a starting pod
 * reports no CPU (both autoscalers treat it as not ready).
 *
 * Placement of each new resource, one at a time (one cm/notify message each):
 *   ours       choosePlacement: the least-loaded instance with room, capacity
 *              5000 (SPEC §3 changed rule); a draining instance has no room.
 *              The instances a scale-out opened whose worker the last run did
 *              not see serve are warming: passed as `exclude`, they take new
 *              resources only when no other instance has room.
 *   reference  the legacy createResource (walkthrough): the instance ids in
 *              reverse (Object.keys(...).reverse(), highest id first), the
 *              first with used < count; none → a new instance with the smallest
 *              unused id and the same count. `count` is what the last
 *              orchestrate wrote, floor(resources / instances) + 1, so after
 *              an orchestrate each instance has about one free place and new
 *              resources open new (not yet serving) instances.
 *
 * After a scale decision:
 *   ours       a scale-in never goes below ceil(assigned resources /
 *              resourcePerInstance) instances. Scale-out first takes back
 *              draining instances (lowest-numbered first, their workers still
 *              serve), then opens empty, warming instances (smallest unused
 *              ids); scale-in marks the highest-numbered non-draining
 *              instances draining (capacity 0, out of `current`). While moves
 *              are owed (from a scale until a wave carries out its whole plan,
 *              or while a draining instance holds resources) each run carries
 *              out one wave: rebalanceOnto(every list, the non-draining
 *              instances, 5000), only its steps towards instances whose worker
 *              the run sees serve (serving by the next minute), at most
 *              maxMovesPerRun ids. Every run closes the emptied draining
 *              instances. (lib/reconcile/autoscale.ts, ScalingUseCase.)
 *   reference  legacyOrchestrate over the HPA's count with count =
 *              floor(resources / instances) + 1, at once; resources given to
 *              a new instance are unserved until it serves; instances beyond
 *              the count are deleted.
 * No reload CPU is charged for moved resources: there is no measured figure
 * for it, so the moves are reported as counts instead (the reference moves
 * far more, so charging a reload would only widen the gap in our favour).
 *
 * Figures, per minute summed over the hour: serving instances above target
 * (also by phase); overloaded instances: those above target plus those that
 * hold resources before their worker serves (load on no capacity at all: the
 * reference's re-orchestration parks resources there, which keeps its serving
 * instances cool while those devices wait); resources on instances that do
 * not serve yet (unserved, also by phase); resource-minutes beyond target or
 * unserved: on each serving instance above target, the resources in excess of
 * what the target allows (a worker at 66 % of a 60 % target carries 1/11 of
 * its resources beyond it), plus every unserved resource. That counts, per
 * resource, what the first two figures stand for, so an autoscaler cannot
 * score few instances above target by leaving resources on workers that do
 * not serve yet, or by packing many resources onto the few hot ones. Then: instances (starting and draining
 * included) beyond ceil(load / target); instances; instances opened by
 * placement rather than by the autoscaler. Flips: autoscaler decisions whose direction differs from
 * the previous decision's, over the hour and within the plateau (placement
 * openings are not decisions; the decisions are listed). Runs spike→capacity:
 * from the spike's first minute to the first minute with no serving instance
 * above target and nothing unserved. Moved: ids that changed instance;
 * minimum: per run that moves, the fewest ids any balanced spread over that
 * run's targets must move into the instances the run may move to (ours: those
 * serving by the next minute, at most maxMovesPerRun; reference: every
 * instance of the new count, i.e. rebalance's minimumMoves). Counting ours
 * per decision instead would count the moves of overlapping scale-ups twice.
 * Deterministic (seeded). Prints figures; asserts nothing.
 *
 *   npx tsx bench/scaling.ts
 */
import { pathToFileURL } from 'node:url';
import { resolveScaling } from '../lib/config/scaling.js';
import { CapacityError } from '../lib/domain/errors.js';
import { byNumericId, type InstanceState, type Move } from '../lib/domain/orchestration.js';
import { choosePlacement, smallestUnusedId } from '../lib/domain/placement.js';
import { type RebalanceResult, rebalance, rebalanceOnto } from '../lib/domain/rebalance.js';
import {
  decideScale,
  type LoadSample,
  type PodMetrics,
  type ScaleEvent,
  type ScaleRecommendation,
} from '../lib/reconcile/scale.js';
import { legacyOrchestrate } from '../test/support/legacy.js';
import { applyPlan, countMoves } from '../test/support/plans.js';

const TARGET_CPU = 60;
const MINUTES = 60;
const START_INSTANCES = 4;
/** Minutes from the run that opens an instance to its first minute of service. */
const READY_AFTER = 2;
/** CPU of one resource at the base rate, in percent of one instance's CPU request: 1200 resources = the target. */
const BASE_COST = 0.05;
const START_RESOURCES = 4000;
const REGISTRATIONS = { until: 20, perMinute: 400 };
const SPIKE = { from: 15, to: 19, factor: 2 };
const PLATEAU = { from: 20, to: 44, noise: 0.1 };
const RAMP_DOWN = { from: 45, to: MINUTES - 1, factor: 0.3 };
/** Ours: the configured `resourcePerInstance` (SPEC §3 changed rule). */
const CAPACITY = 5000;
const MAX_INSTANCES = 100;
/** Ours: a draining instance is stored with capacity 0 (no room for placements). */
const DRAINING = 0;
const SEED = 0x5ca1e;
const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

/** One minute of the trace. */
export interface TraceMinute {
  /** Resources that exist this minute. */
  readonly resources: number;
  /** CPU of each resource this minute, percent of one instance's CPU request. */
  readonly cost: number;
}

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

/** Resources and per-resource cost per minute (see the header). */
export function loadTrace(): TraceMinute[] {
  const random = seeded(SEED);
  return Array.from({ length: MINUTES }, (_, minute) => {
    const resources = START_RESOURCES + REGISTRATIONS.perMinute * Math.min(minute, REGISTRATIONS.until);
    let factor = 1;
    if (minute >= SPIKE.from && minute <= SPIKE.to) factor = SPIKE.factor;
    else if (minute >= PLATEAU.from && minute <= PLATEAU.to) factor = 1 + PLATEAU.noise * (2 * random() - 1);
    else if (minute >= RAMP_DOWN.from) {
      factor = 1 + ((RAMP_DOWN.factor - 1) * (minute - RAMP_DOWN.from)) / (RAMP_DOWN.to - RAMP_DOWN.from);
    }
    return { resources, cost: BASE_COST * factor };
  });
}

const loadOf = (minute: TraceMinute): number => minute.resources * minute.cost;
/** The same rounding on both sides: ceil without floating-point dust. */
const ceilCount = (value: number): number => Math.ceil(value - 1e-9);
const needed = (minute: TraceMinute): number => ceilCount(loadOf(minute) / TARGET_CPU);
const capacityFor = (resources: number, instances: number): number =>
  Math.max(CAPACITY, Math.ceil(resources / instances));
const resourceId = (n: number): string => `thing-${String(n).padStart(5, '0')}`;

/** Decides the next instance count from this minute's pods and the resources assigned (draining instances included). */
type Autoscaler = (now: number, current: number, pods: readonly PodMetrics[], assigned: number) => number;

/**
 * decideScale as reconcile calls it: a scale-in never leaves fewer instances
 * than the assigned resources need at `resourcePerInstance`, and the stored
 * last decision is the one carried out (after that floor).
 */
function ours(): Autoscaler {
  const settings = resolveScaling({ enabled: true, targetCpuUtilization: TARGET_CPU });
  let history: readonly ScaleRecommendation[] = [];
  let loads: readonly LoadSample[] = [];
  let lastDecision: ScaleEvent | undefined;
  return (now, current, pods, assigned) => {
    const decision = decideScale({ resource: 'Thing', settings, now, current, pods, history, loads, lastDecision });
    history = decision.history;
    loads = decision.loads;
    const floor = Math.max(1, Math.ceil(assigned / CAPACITY));
    const desired =
      decision.direction === 'down' ? Math.max(decision.desired, Math.min(floor, current)) : decision.desired;
    if (desired !== current) {
      lastDecision = { at: now, from: current, to: desired, direction: desired > current ? 'up' : 'down' };
    }
    return desired;
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
    if (stabilized > current) return Math.min(stabilized, Math.max(current + 4, Math.ceil(current * 2)), MAX_INSTANCES);
    return Math.max(stabilized, 1);
  };
}

/** The instances of one system: lists, when each serves, and each one's `count`. */
interface Fleet {
  readonly lists: Map<string, string[]>;
  /** First minute the instance serves. */
  readonly servesFrom: Map<string, number>;
  /** The stored `count`: reference, the last orchestrate's; ours, CAPACITY or DRAINING. */
  readonly counts: Map<string, number>;
}

interface Acted {
  readonly moved: number;
  /**
   * The fewest ids any balanced spread over this run's targets must move into
   * the instances this run may move to (ours: those serving by the next
   * minute, at most maxMovesPerRun; reference: every instance of the new count).
   */
  readonly minimum: number;
}

/** One system's behaviour around its autoscaler. */
interface System {
  readonly name: string;
  readonly autoscaler: Autoscaler;
  /** The `count` stored on each starting instance by the orchestrate that spread the first resources. */
  startCount(resources: number, instances: number): number;
  /** Places a resource registered at the start of `minute`; true when that opened an instance. */
  place(fleet: Fleet, id: string, minute: number): boolean;
  /** The instances the autoscaler counts and sees pods for. */
  current(fleet: Fleet): string[];
  /** The run at the end of `minute`, after the decision: scale to `desired` and move. */
  act(fleet: Fleet, minute: number, desired: number): Acted;
}

const open = (fleet: Fleet, id: string, count: number, servesFrom: number): void => {
  fleet.lists.set(id, []);
  fleet.counts.set(id, count);
  fleet.servesFrom.set(id, servesFrom);
};

const all = (fleet: Fleet): string[] => [...fleet.lists.values()].flat();

/** The steps cut to their first `budget` ids, in order. */
function firstIds(steps: readonly Move[], budget: number): Move[] {
  const out: Move[] = [];
  let left = budget;
  for (const step of steps) {
    if (left <= 0) break;
    const ids = step.ids.slice(0, left);
    out.push({ ...step, ids });
    left -= ids.length;
  }
  return out;
}

function oursSystem(): System {
  const maxMoves = resolveScaling().maxMovesPerRun;
  const current = (fleet: Fleet): string[] =>
    [...fleet.counts].flatMap(([id, c]) => (c === DRAINING ? [] : [id])).sort(byNumericId);
  const draining = (fleet: Fleet): string[] =>
    [...fleet.counts].flatMap(([id, c]) => (c === DRAINING ? [id] : [])).sort(byNumericId);
  /** Opened by a scale-out, worker not serving as of the last run: placement avoids them while any other has room. */
  let warming = new Set<string>();
  /** Moves are owed: a scale happened and no wave has carried out its whole plan since. */
  let owed = false;
  return {
    name: 'ours',
    autoscaler: ours(),
    startCount: () => CAPACITY,
    current,
    place(fleet, id, minute) {
      const states: InstanceState[] = [...fleet.lists].map(([instanceId, ids]) => ({
        id: instanceId,
        used: ids.length,
        count: fleet.counts.get(instanceId) ?? CAPACITY,
        ids,
        reloadTimes: 0,
      }));
      const choice = choosePlacement(states, id, { exclude: warming, capacity: CAPACITY, maxInstances: MAX_INSTANCES });
      if (!choice) throw new Error(`ours: no room for ${id} at ${MAX_INSTANCES} instances`);
      if (choice.isNew) open(fleet, choice.instanceId, CAPACITY, minute - 1 + READY_AFTER);
      fleet.lists.get(choice.instanceId)!.push(id);
      return choice.isNew;
    },
    act(fleet, minute, desired) {
      // The run sees a worker serve from the run before its first minute of service.
      const serving = (id: string): boolean => (fleet.servesFrom.get(id) ?? 0) <= minute + 1;
      const active = current(fleet);
      const wasDraining = draining(fleet);
      const stillWarming = [...warming].filter((id) => fleet.lists.has(id) && !serving(id));
      const opened: string[] = [];
      if (desired > active.length) {
        // Take back draining instances first, lowest-numbered first; then open new ones.
        const resumed = wasDraining.slice(0, desired - active.length);
        for (const id of resumed) fleet.counts.set(id, Math.max(CAPACITY, fleet.lists.get(id)!.length));
        for (let n = active.length + resumed.length; n < desired; n++) {
          const id = smallestUnusedId(fleet.lists.keys());
          open(fleet, id, CAPACITY, minute + READY_AFTER);
          opened.push(id);
        }
      } else if (desired < active.length) {
        // Drain the highest-numbered.
        for (const id of active.slice(desired)) fleet.counts.set(id, DRAINING);
      }
      warming = new Set([...stillWarming, ...opened]);
      owed ||= desired !== active.length || wasDraining.some((id) => fleet.lists.get(id)!.length > 0);

      let moved = 0;
      let deficit = 0;
      if (owed) {
        // One wave: the minimal plan onto the non-draining instances, only its steps towards serving ones.
        const targets = current(fleet);
        let wave: RebalanceResult | undefined;
        try {
          wave = rebalanceOnto(fleet.lists, targets, CAPACITY);
        } catch (error) {
          if (!(error instanceof CapacityError)) throw error;
        }
        if (wave) {
          // What any balanced spread over these targets must move into the instances this run may fill.
          for (const [id, list] of wave.assignment) {
            if (serving(id)) deficit += Math.max(0, list.length - (fleet.lists.get(id)?.length ?? 0));
          }
          const steps = firstIds(
            wave.plan.filter((step) => serving(step.to)),
            maxMoves,
          );
          for (const [id, list] of applyPlan(fleet.lists, steps)) fleet.lists.set(id, list);
          moved = steps.reduce((total, step) => total + step.ids.length, 0);
          owed = wave.moved - moved > 0;
        } else {
          owed = draining(fleet).some((id) => fleet.lists.get(id)!.length > 0);
        }
      }
      // Close: a drained, empty instance is removed.
      for (const id of draining(fleet)) {
        if (fleet.lists.get(id)?.length !== 0) continue;
        fleet.lists.delete(id);
        fleet.counts.delete(id);
        fleet.servesFrom.delete(id);
      }
      return { moved, minimum: Math.min(deficit, maxMoves) };
    },
  };
}

function referenceSystem(): System {
  return {
    name: 'reference',
    autoscaler: reference(),
    startCount: (resources, instances) => Math.floor(resources / instances) + 1,
    current: (fleet) => [...fleet.lists.keys()],
    place(fleet, id, minute) {
      const ids = [...fleet.lists.keys()].sort(byNumericId).reverse();
      for (const instanceId of ids) {
        const list = fleet.lists.get(instanceId)!;
        if (list.length < (fleet.counts.get(instanceId) ?? 0)) {
          list.push(id);
          return false;
        }
      }
      // The legacy loop leaves `count` at the last instance it looked at (the lowest id).
      const count = fleet.counts.get(ids.at(-1) ?? '') ?? CAPACITY;
      const opened = smallestUnusedId(ids);
      open(fleet, opened, count, minute - 1 + READY_AFTER);
      fleet.lists.get(opened)!.push(id);
      return true;
    },
    act(fleet, minute, desired) {
      if (desired === fleet.lists.size) return { moved: 0, minimum: 0 };
      const ids = all(fleet);
      const count = Math.floor(ids.length / desired) + 1;
      const next = legacyOrchestrate(ids, desired, count);
      const moved = countMoves(fleet.lists, next);
      const minimum = rebalance(fleet.lists, desired, capacityFor(ids.length, desired)).minimumMoves;
      for (const id of [...fleet.lists.keys()]) {
        if (next.has(id)) continue;
        fleet.lists.delete(id);
        fleet.counts.delete(id);
        fleet.servesFrom.delete(id);
      }
      for (const [id, list] of next) {
        if (!fleet.servesFrom.has(id)) fleet.servesFrom.set(id, minute + READY_AFTER);
        fleet.lists.set(id, list);
        fleet.counts.set(id, count);
      }
      return { moved, minimum };
    },
  };
}

interface Run {
  readonly name: string;
  /** Per minute: instances, those serving, serving ones above target, the hottest one's utilization, resources unserved. */
  readonly instances: number[];
  readonly hot: number[];
  readonly serving: number[];
  readonly hottest: number[];
  readonly unservedByMinute: number[];
  /** Serving instances above target. */
  aboveTarget: number;
  /** Above target, plus instances holding resources before their worker serves (load on zero capacity). */
  overloaded: number;
  unserved: number;
  /** Resource-minutes on serving instances above target plus unserved resource-minutes. */
  late: number;
  overProvisioned: number;
  instanceMinutes: number;
  openedByPlacement: number;
  readonly events: { minute: number; direction: 'up' | 'down' }[];
  moved: number;
  minimum: number;
  largestMove: number;
  runsToCapacity: number | undefined;
}

function replay(trace: readonly TraceMinute[], system: System): Run {
  const fleet: Fleet = { lists: new Map(), servesFrom: new Map(), counts: new Map() };
  // Both start from the same lists, 1000 on each instance; only the stored count differs.
  const first = Array.from({ length: trace[0]?.resources ?? 0 }, (_, n) => resourceId(n));
  const count = system.startCount(first.length, START_INSTANCES);
  for (const [id, list] of legacyOrchestrate(first, START_INSTANCES, Math.ceil(first.length / START_INSTANCES))) {
    open(fleet, id, count, 0);
    fleet.lists.set(id, list);
  }
  const run: Run = {
    name: system.name,
    instances: [],
    hot: [],
    serving: [],
    hottest: [],
    unservedByMinute: [],
    aboveTarget: 0,
    overloaded: 0,
    unserved: 0,
    late: 0,
    overProvisioned: 0,
    instanceMinutes: 0,
    openedByPlacement: 0,
    events: [],
    moved: 0,
    minimum: 0,
    largestMove: 0,
    runsToCapacity: undefined,
  };
  let registered = first.length;
  trace.forEach((now, minute) => {
    for (; registered < now.resources; registered++) {
      if (system.place(fleet, resourceId(registered), minute)) run.openedByPlacement += 1;
    }

    let serving = 0;
    let hot = 0;
    let unserved = 0;
    let waiting = 0;
    let onHot = 0;
    let hottest = 0;
    const utilization = new Map<string, number>();
    for (const [id, list] of fleet.lists) {
      if ((fleet.servesFrom.get(id) ?? 0) > minute) {
        unserved += list.length;
        if (list.length > 0) waiting += 1;
        continue;
      }
      const percent = list.length * now.cost;
      utilization.set(id, percent);
      serving += 1;
      hottest = Math.max(hottest, percent);
      if (percent > TARGET_CPU + 1e-9) {
        hot += 1;
        // The share of its resources beyond what the target allows: the load its worker carries in excess.
        onHot += list.length - (list.length * TARGET_CPU) / percent;
      }
    }
    run.instances.push(fleet.lists.size);
    run.hot.push(hot);
    run.serving.push(serving);
    run.hottest.push(hottest);
    run.unservedByMinute.push(unserved);
    run.instanceMinutes += fleet.lists.size;
    run.aboveTarget += hot;
    run.overloaded += hot + waiting;
    run.unserved += unserved;
    run.late += Math.round(onHot) + unserved;
    run.overProvisioned += Math.max(0, fleet.lists.size - needed(now));
    if (minute >= SPIKE.from && run.runsToCapacity === undefined && hot === 0 && unserved === 0) {
      run.runsToCapacity = minute - SPIKE.from;
    }

    const current = system.current(fleet);
    const pods: PodMetrics[] = current.map((instanceId) => {
      const cpuPercent = utilization.get(instanceId);
      return { instanceId, ready: cpuPercent !== undefined, cpuPercent };
    });
    const desired = system.autoscaler(T0 + minute * 60_000, current.length, pods, registered);
    if (desired !== current.length) run.events.push({ minute, direction: desired > current.length ? 'up' : 'down' });
    const acted = system.act(fleet, minute, desired);
    run.moved += acted.moved;
    run.minimum += acted.minimum;
    run.largestMove = Math.max(run.largestMove, acted.moved);
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

/** The trace's phases: name, first and last minute. */
const PHASES: readonly (readonly [string, number, number])[] = [
  ['ramp', 0, SPIKE.from - 1],
  ['spike', SPIKE.from, SPIKE.to],
  ['plateau', PLATEAU.from, PLATEAU.to],
  ['ramp down', RAMP_DOWN.from, RAMP_DOWN.to],
];

const sum = (values: readonly number[], from = 0, to = values.length - 1): number =>
  values.slice(from, to + 1).reduce((total, value) => total + value, 0);

/** One line per phase: minutes, resources, per-resource cost, load and instances needed. */
function phases(trace: readonly TraceMinute[], log: (line: string) => void): void {
  const span = (values: number[], digits = 0): string => {
    const [low, high] = [Math.min(...values), Math.max(...values)];
    return low === high ? low.toFixed(digits) : `${low.toFixed(digits)}-${high.toFixed(digits)}`;
  };
  const rows: string[][] = [['phase', 'minutes', 'resources', 'cost/resource %', 'load %', 'needed']];
  for (const [name, from, to] of PHASES) {
    const minutes = trace.slice(from, to + 1);
    const costs = minutes.map((m) => m.cost);
    rows.push([
      name,
      `${from}-${to}`,
      span(minutes.map((m) => m.resources)),
      span(costs, 4),
      span(minutes.map(loadOf)),
      span(minutes.map(needed)),
    ]);
  }
  table(rows, log);
}

export async function benchScaling(log: (line: string) => void = console.log): Promise<void> {
  const trace = loadTrace();
  log(
    `scaling: ${MINUTES} one-minute runs, target ${TARGET_CPU}% of the CPU request, ` +
      `each resource ${BASE_COST}% of one instance's request at the base rate, ${START_INSTANCES} instances at the start, ` +
      `an instance opened by a run serves ${READY_AFTER} runs later`,
  );
  log(
    `trace: +${REGISTRATIONS.perMinute} resources a minute until minute ${REGISTRATIONS.until}; ` +
      `cost ×${SPIKE.factor} in the spike, ±${PLATEAU.noise * 100}% on the plateau (seed ${SEED}), ` +
      `falling to ×${RAMP_DOWN.factor} in the ramp down`,
  );
  phases(trace, log);

  const runs = [replay(trace, oursSystem()), replay(trace, referenceSystem())];

  log(
    'per minute: load %, needed = ceil(load / target), instances (* = some not serving yet), hottest serving instance %, unserved resources:',
  );
  const lines: [string, (minute: number) => string][] = [
    ['minute', String],
    ['load', (minute) => String(Math.round(loadOf(trace[minute]!)))],
    ['needed', (minute) => String(needed(trace[minute]!))],
    ...runs.flatMap((run): [string, (minute: number) => string][] => [
      [run.name, (minute) => `${run.instances[minute]}${run.serving[minute] === run.instances[minute] ? '' : '*'}`],
      ['  hottest', (minute) => String(Math.round(run.hottest[minute] ?? 0))],
      ['  unserved', (minute) => String(run.unservedByMinute[minute] ?? 0)],
    ]),
  ];
  for (let start = 0; start < MINUTES; start += 20) {
    for (const [label, cell] of lines) {
      const cells = trace.slice(start, start + 20).map((_, i) => cell(start + i).padStart(6));
      log(`  ${label.padEnd(10)}${cells.join('')}`);
    }
  }

  const rows: string[][] = [
    [
      'autoscaler',
      'above-target inst-min',
      'overloaded inst-min',
      'unserved res-min',
      'beyond target or unserved res-min',
      'over-provisioned inst-min',
      'inst-min',
      'opened by placement',
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
      String(run.aboveTarget),
      String(run.overloaded),
      String(run.unserved),
      String(run.late),
      String(run.overProvisioned),
      String(run.instanceMinutes),
      String(run.openedByPlacement),
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

  log('by phase: above-target instance-minutes / unserved resource-minutes');
  const byPhase: string[][] = [['autoscaler', ...PHASES.map(([name]) => name)]];
  for (const run of runs) {
    byPhase.push([
      run.name,
      ...PHASES.map(([, from, to]) => `${sum(run.hot, from, to)} / ${sum(run.unservedByMinute, from, to)}`),
    ]);
  }
  table(byPhase, log);
  log('scale decisions (minute, + up / - down; instances opened by placement are not decisions):');
  for (const run of runs) {
    const events = run.events.map((event) => `${event.minute}${event.direction === 'up' ? '+' : '-'}`);
    log(`  ${run.name.padEnd(10)}${events.join(' ')}`);
  }
  const [mine, ref] = runs as [Run, Run];
  const checks = [
    ['0 flips on the noisy plateau', flips(mine, PLATEAU) === 0],
    ['moved / minimum = 1.00', mine.moved === mine.minimum],
    ['fewer overloaded instance-minutes than the reference', mine.overloaded < ref.overloaded],
    ['fewer resource-minutes beyond target or unserved than the reference', mine.late < ref.late],
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
