/**
 * The scaling decision (SPEC §5 "Elastic scaling"): how many instances a kind
 * should have, from its pods' CPU and memory, in the shape of the Kubernetes
 * HPA. Pure and deterministic, like `decide`: a Lambda remembers nothing, so
 * the caller stores the returned `history` and passes it back next run.
 *
 * Rules, per kind (percentages are of the container request):
 * - disabled, or no instances yet (the kind is not orchestrated) → hold;
 * - current outside [minInstances, maxInstances] → the nearest bound at once
 *   (configuration wins over the window and the steps);
 * - per configured metric, utilization = the mean over ready instances that
 *   report it, ratio = utilization / target, recommendation =
 *   ceil(instances × ratio); within the tolerance (|ratio − 1| ≤ tolerance)
 *   the recommendation is the current count;
 * - instances without a number are filled in so that they only damp (HPA):
 *   on a scale-up, starting instances and ready ones without the metric count
 *   as 0 % (a starting instance takes its share of the load once ready); on a
 *   scale-down, both count as 100 % of the target (missing or starting
 *   metrics never shrink the pool). If the filled-in ratio falls within the
 *   tolerance or reverses direction, the recommendation is the current count;
 * - several metrics: the largest recommendation; no ready instance at all
 *   (every one starting) → hold;
 * - more than half of the ready instances without a configured metric → hold
 *   and alert `metrics-missing`;
 * - a rising load is met ahead of time: when a metric's total over the ready
 *   instances rose in each of the last two intervals, it is projected
 *   `scaleUpLookaheadSeconds` ahead at the slower of the two rates, and a
 *   projection beyond the tolerance scales up to ceil(projected total /
 *   target) now, so the new workers serve before the load arrives (a worker
 *   takes minutes to start). Two rises in a row, the slower rate, and
 *   samples at least a fifth of the lookahead apart keep noise from scaling;
 *   a falling load is never projected (scale-down waits for the window, as
 *   below);
 * - scale-up takes effect on the first run (no up window), at most
 *   `scaleUpMaxStep` instances (default: the larger of +100 % and +4);
 * - scale-down goes to the highest recommendation in the stabilization window,
 *   this one included, so only when every recent recommendation was lower; at
 *   most `scaleDownMaxStep` instances per run;
 * - an empty window (first run, lost history) is seeded with the current
 *   count, so the first scale-down waits a whole window (as the HPA does;
 *   a window of 0 s has nothing to wait for and is not seeded);
 * - no scale-down within the window after the last scale-up (`lastDecision`),
 *   even if the history was lost; a scale-up right after a scale-down is
 *   allowed (capacity first, as the HPA does);
 * - the result stays in [minInstances, maxInstances]; at the maximum with a
 *   recommendation above it → alert `scale-limit`;
 * - `history` = the recommendations within the window (newer than now − window,
 *   not after now) plus this run's, unclamped; `loads` = this run's totals
 *   after the previous ones, the last TREND_SAMPLES.
 */
import type { MetricsMissingAlert, ScaleLimitAlert } from '../alerts.js';
import { type ScalingSettings, scaleUpStep } from '../config/scaling.js';

export type ScaleMetric = 'cpu' | 'memory';
export type ScaleDirection = 'up' | 'down' | 'hold';

/** One pod of a current (not draining) instance, with its last sampled usage. */
export interface PodMetrics {
  readonly instanceId: string;
  /** Percent of the container's CPU request; absent when not sampled. */
  readonly cpuPercent?: number | undefined;
  /** Percent of the container's memory request; absent when not sampled. */
  readonly memoryPercent?: number | undefined;
  /** False while inside the start-up grace or not yet heartbeating: its numbers are not used. */
  readonly ready: boolean;
}

/** One run's unclamped recommendation, stored by the caller between runs. */
export interface ScaleRecommendation {
  readonly at: number;
  readonly desired: number;
}

/** One run's load per metric: the mean over ready instances that report it × the ready instances. */
export interface LoadSample {
  readonly at: number;
  /** Percent of one container's request, summed over the ready instances. */
  readonly cpu?: number | undefined;
  readonly memory?: number | undefined;
}

/** The last scale that was carried out. */
export interface ScaleEvent {
  readonly at: number;
  readonly from: number;
  readonly to: number;
  readonly direction: 'up' | 'down';
}

export interface ScaleInput {
  readonly resource: string;
  readonly settings: ScalingSettings;
  /** Epoch ms of this run. */
  readonly now: number;
  /** Instances of the kind, draining ones excluded. */
  readonly current: number;
  /** One entry per current instance; an instance without one counts as ready without metrics. */
  readonly pods: readonly PodMetrics[];
  /** As returned by the previous run; older entries are ignored. */
  readonly history: readonly ScaleRecommendation[];
  /** As returned by the previous run (`loads`); absent: no trend yet. */
  readonly loads?: readonly LoadSample[] | undefined;
  readonly lastDecision?: ScaleEvent | undefined;
}

export type { MetricsMissingAlert, ScaleLimitAlert };
export type ScaleAlert = ScaleLimitAlert | MetricsMissingAlert;

export interface ScaleDecision {
  readonly resource: string;
  readonly desired: number;
  readonly current: number;
  readonly direction: ScaleDirection;
  readonly reason: string;
  /** What the metrics ask for, before the window, the steps and the bounds. */
  readonly recommendation: number;
  /** Store this and pass it back next run. */
  readonly history: readonly ScaleRecommendation[];
  /** Store this and pass it back next run: the load trend. */
  readonly loads: readonly LoadSample[];
  readonly alerts: readonly ScaleAlert[];
}

interface Vote {
  readonly metric: ScaleMetric;
  /** Undefined when no ready instance reports the metric. */
  readonly recommendation: number | undefined;
  readonly text: string;
}

const METRICS: readonly {
  readonly metric: ScaleMetric;
  readonly target: keyof ScalingSettings;
  readonly value: keyof PodMetrics;
}[] = [
  { metric: 'cpu', target: 'targetCpuUtilization', value: 'cpuPercent' },
  { metric: 'memory', target: 'targetMemoryUtilization', value: 'memoryPercent' },
];

const pct = (value: number): string => `${Math.round(value)}%`;
const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;
/** Floating-point dust: |66 / 60 − 1| computes to 0.10000000000000009, within a 0.1 tolerance; 11.000000000000002 instances are 11. */
const DUST = 1e-9;
const ceilCount = (value: number): number => Math.ceil(value - DUST);
const within = (ratio: number, tolerance: number): boolean => Math.abs(ratio - 1) <= tolerance + DUST;

const reading = (pod: PodMetrics, key: keyof PodMetrics): number | undefined => {
  const value = pod[key];
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
};

interface Sample {
  readonly metric: ScaleMetric;
  readonly target: number;
  readonly values: readonly number[];
  /** Ready pods without the metric, by id. */
  readonly missingIds: readonly string[];
  /** Ready instances without the metric, instances without a pod entry included. */
  readonly missing: number;
  readonly starting: number;
  /** This run's load (see LoadSample); undefined when no ready instance reports the metric. */
  readonly load: number | undefined;
}

/** Runs of load kept for the trend: two intervals need three samples. */
export const TREND_SAMPLES = 3;
/**
 * Trend samples are at least this fraction of the lookahead apart: projected
 * 240 s ahead, a rise measured over the 2 s of a fast local loop would
 * multiply sampling noise 120 times; over 48 s, 5 times.
 */
export const TREND_SPACING_OF_LOOKAHEAD = 1 / 5;

function samples(input: ScaleInput): Sample[] {
  const absent = Math.max(0, input.current - input.pods.length);
  const starting = input.pods.filter((pod) => !pod.ready).length;
  return METRICS.flatMap(({ metric, target, value }) => {
    const goal = input.settings[target];
    if (typeof goal !== 'number') return [];
    const ready = input.pods.filter((pod) => pod.ready);
    const values = ready.flatMap((pod) => reading(pod, value) ?? []);
    const missingIds = ready.filter((pod) => reading(pod, value) === undefined).map((pod) => pod.instanceId);
    const missing = missingIds.length + absent;
    // The mean × the ready instances: a pod that misses one sample does not read as a fall and then a rise.
    const load =
      values.length > 0
        ? (values.reduce((total, v) => total + v, 0) / values.length) * (values.length + missing)
        : undefined;
    return [{ metric, target: goal, values, missingIds, missing, starting, load }];
  });
}

/**
 * The load's growth per millisecond, when it rose in each of the last two
 * intervals (the slower rate), else 0. Samples older than twice the
 * lookahead are stale (runs were missed) and give no trend.
 */
function growth(
  metric: ScaleMetric,
  now: number,
  load: number,
  earlier: readonly LoadSample[],
  lookaheadMs: number,
): number {
  const fresh = earlier.filter((sample) => sample.at > now - 2 * lookaheadMs && sample.at < now);
  const points = [...fresh, { at: now, [metric]: load }]
    .flatMap((sample) => {
      const value = sample[metric];
      return typeof value === 'number' ? [{ at: sample.at, load: value }] : [];
    })
    .slice(-TREND_SAMPLES);
  if (points.length < TREND_SAMPLES) return 0;
  let slowest = Number.POSITIVE_INFINITY;
  points.slice(1).forEach((to, i) => {
    const from = points[i] as { at: number; load: number };
    slowest = Math.min(slowest, to.load > from.load && to.at > from.at ? (to.load - from.load) / (to.at - from.at) : 0);
  });
  return slowest;
}

/** One metric's recommendation, HPA style (see the rules above). */
function vote(sample: Sample, current: number, tolerance: number, rise: Rise): Vote {
  const { metric, target, values, missing, starting } = sample;
  if (values.length === 0)
    return { metric, recommendation: undefined, text: `${metric}: no ready instance reports it` };
  const sum = values.reduce((total, value) => total + value, 0);
  const ratio = sum / values.length / target;
  const head = `${metric} ${pct(ratio * target)} of target ${target}%`;
  const band = `, within ±${pct(tolerance * 100)}`;
  const filled = missing + starting;

  if (rise.perMs > 0) {
    // Starting instances and ready ones without the metric count as 0 %, as for any scale-up.
    const projected = sum + rise.perMs * rise.lookaheadMs;
    const projectedMean = projected / (values.length + filled);
    const recommendation = Math.max(current, ceilCount(projected / target));
    if (!within(projectedMean / target, tolerance) && projectedMean > target && recommendation > current) {
      const perMinute = pct(rise.perMs * 60_000);
      const text = `${head}, rising ${perMinute} per minute: ${pct(projectedMean)} in ${seconds(rise.lookaheadMs)} → ${recommendation}`;
      return { metric, recommendation, text };
    }
  }
  if (within(ratio, tolerance)) return { metric, recommendation: current, text: `${head}${band} → ${current}` };

  const up = ratio > 1;
  const fill = up ? 0 : target;
  // ceil(Σ / target) is ceil(instances × ratio) with every instance counted; it never points against the ratio.
  const estimate = ceilCount((sum + fill * filled) / target);
  const toward = (count: number): number => (up ? Math.max(count, current) : Math.min(count, current));
  if (filled === 0) {
    const recommendation = toward(estimate);
    return { metric, recommendation, text: `${head} → ${recommendation}` };
  }
  const adjusted = (sum + fill * filled) / (values.length + filled) / target;
  const who = [starting > 0 ? `${starting} starting` : '', missing > 0 ? `${missing} without ${metric}` : '']
    .filter(Boolean)
    .join(' and ');
  const counted = `${head}, ${pct(adjusted * target)} counting ${who} at ${up ? '0%' : 'target'}`;
  if (within(adjusted, tolerance)) return { metric, recommendation: current, text: `${counted}${band} → ${current}` };
  if (adjusted > 1 !== up)
    return { metric, recommendation: current, text: `${counted}, direction reversed → ${current}` };
  const recommendation = toward(estimate);
  return { metric, recommendation, text: `${counted} → ${recommendation}` };
}

/** A metric's growth and how far ahead it is projected. */
interface Rise {
  readonly perMs: number;
  readonly lookaheadMs: number;
}

export function decideScale(input: ScaleInput): ScaleDecision {
  const { resource, settings, now, current } = input;
  const { minInstances, maxInstances } = settings;
  const windowMs = settings.scaleDownStabilizationSeconds * 1000;
  const recent = input.history.filter((entry) => entry.at > now - windowMs && entry.at <= now);
  const sampled = samples(input);
  const lookaheadMs = settings.scaleUpLookaheadSeconds * 1000;
  const earlier = (input.loads ?? []).filter((sample) => sample.at < now);
  const latest = earlier.at(-1);
  // A run too soon after the last kept sample neither projects nor is kept: the trend stays on wide intervals.
  const spaced = latest === undefined || now - latest.at >= lookaheadMs * TREND_SPACING_OF_LOOKAHEAD;
  const thisRun = {
    at: now,
    ...Object.fromEntries(sampled.flatMap((s) => (s.load === undefined ? [] : [[s.metric, s.load]]))),
  };
  const loads = (spaced ? [...earlier, thisRun] : earlier).slice(-TREND_SAMPLES);
  const window = recent.length > 0 || windowMs === 0 ? recent : [{ at: now, desired: current }];
  const decision = (
    desired: number,
    recommendation: number,
    reason: string,
    alerts: ScaleAlert[] = [],
  ): ScaleDecision => ({
    resource,
    desired,
    current,
    direction: desired > current ? 'up' : desired < current ? 'down' : 'hold',
    reason,
    recommendation,
    history: [...window, { at: now, desired: recommendation }],
    loads,
    alerts,
  });

  if (!settings.enabled || current < 1) {
    const reason = settings.enabled ? 'no instances: the kind is not orchestrated yet' : 'scaling disabled';
    // Nothing to remember: a later first run seeds the window afresh.
    return { ...decision(current, current, reason), history: [], loads: [] };
  }
  if (current < minInstances)
    return decision(minInstances, minInstances, `${current} instances, below minInstances ${minInstances}`);
  if (current > maxInstances)
    return decision(maxInstances, maxInstances, `${current} instances, above maxInstances ${maxInstances}`);

  const missingAlerts: MetricsMissingAlert[] = [];
  for (const sample of sampled) {
    const ready = sample.values.length + sample.missing;
    if (ready > 0 && sample.missing > ready / 2) {
      const { metric, missing, missingIds } = sample;
      missingAlerts.push({ type: 'metrics-missing', resource, metric, missing, ready, at: now, instances: missingIds });
    }
  }
  if (missingAlerts.length > 0) {
    const what = missingAlerts.map(
      (alert) => `${alert.metric} missing on ${alert.missing} of ${alert.ready} ready instances`,
    );
    return decision(current, current, `${what.join('; ')}; hold: more than half without metrics`, missingAlerts);
  }

  const votes = sampled.map((sample) => {
    const perMs =
      sample.load === undefined || lookaheadMs === 0 || !spaced
        ? 0
        : growth(sample.metric, now, sample.load, earlier, lookaheadMs);
    return vote(sample, current, settings.tolerance, { perMs, lookaheadMs });
  });
  const text = votes.map((v) => v.text).join('; ');
  const counted = votes.flatMap((v) => (v.recommendation === undefined ? [] : [v.recommendation]));
  if (counted.length === 0) return decision(current, current, `${text}; hold`);
  const recommendation = Math.max(...counted);

  if (recommendation > current) {
    const limit: ScaleLimitAlert = {
      type: 'scale-limit',
      resource,
      maxInstances,
      recommended: recommendation,
      at: now,
    };
    if (current >= maxInstances) {
      return decision(current, recommendation, `${text}; hold: at maxInstances ${maxInstances}`, [limit]);
    }
    const step = scaleUpStep(settings, current);
    const desired = Math.min(recommendation, current + step, maxInstances);
    if (desired === recommendation) return decision(desired, recommendation, text);
    if (desired === maxInstances) {
      return decision(desired, recommendation, `${text}; capped at maxInstances ${maxInstances}`, [limit]);
    }
    return decision(desired, recommendation, `${text}; at most +${step} per run → ${desired}`);
  }

  if (recommendation < current) {
    const highest = Math.max(recommendation, ...window.map((entry) => entry.desired));
    const span = seconds(windowMs);
    if (highest >= current)
      return decision(current, recommendation, `${text}; hold: ${highest} recommended within the last ${span}`);
    const last = input.lastDecision;
    if (last?.direction === 'up' && now - last.at < windowMs) {
      return decision(
        current,
        recommendation,
        `${text}; hold: scaled up ${seconds(now - last.at)} ago, no scale-down within ${span} of a scale-up`,
      );
    }
    if (current <= minInstances)
      return decision(current, recommendation, `${text}; hold: at minInstances ${minInstances}`);
    const byStep = current - settings.scaleDownMaxStep;
    const desired = Math.max(highest, byStep, minInstances);
    if (minInstances > Math.max(highest, byStep))
      return decision(desired, recommendation, `${text}; minInstances ${minInstances} → ${desired}`);
    if (byStep > highest)
      return decision(desired, recommendation, `${text}; at most -${settings.scaleDownMaxStep} per run → ${desired}`);
    if (highest > recommendation)
      return decision(desired, recommendation, `${text}; ${highest} recommended within the last ${span} → ${desired}`);
    return decision(desired, recommendation, text);
  }

  return decision(current, recommendation, text);
}
