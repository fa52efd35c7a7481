/**
 * Elastic scaling settings of one resource kind: the optional `scaling`
 * object of a kind in `ORCH_KINDS` (SPEC §5 "Elastic scaling"). Every default
 * lives in `SCALING_DEFAULTS`; `resolveScaling` is the one place that applies
 * them. The rules that use these settings are in lib/reconcile/scale.ts.
 */
import * as z from '../zod.js';
import { LEGACY_LIMITS } from '../domain/options.js';

/**
 * The Kubernetes HPA's default scale-up policy, used when `scaleUpMaxStep` is
 * absent: a run may add the larger of 100 % of the current instances and 4.
 */
export const HPA_SCALE_UP_POLICY = { percent: 100, instances: 4 } as const;

/** The upper bound of `maxInstances`: the legacy limit users know (SPEC §1, §3). */
export const SCALING_MAX_INSTANCES = LEGACY_LIMITS.maxInstances.default;

/** The Kubernetes HPA's upper bound for a stabilization window (one hour). */
export const SCALING_MAX_WINDOW_SECONDS = 3600;

/** The value each absent field takes; the targets and `scaleUpMaxStep` have none. */
export const SCALING_DEFAULTS = {
  enabled: false,
  minInstances: 1,
  maxInstances: SCALING_MAX_INSTANCES,
  tolerance: 0.1,
  scaleUpLookaheadSeconds: 240,
  scaleDownStabilizationSeconds: 300,
  scaleDownMaxStep: 1,
  maxMovesPerRun: 5000,
} as const;

/** What each field means, with its default in words: the README table lists these. */
export const SCALING_FIELDS: Readonly<
  Record<keyof ScalingSettings, { readonly default: string; readonly meaning: string }>
> = {
  enabled: { default: String(SCALING_DEFAULTS.enabled), meaning: 'scale this kind from pod CPU/memory' },
  minInstances: { default: String(SCALING_DEFAULTS.minInstances), meaning: 'never scale below this many instances' },
  maxInstances: {
    default: String(SCALING_DEFAULTS.maxInstances),
    meaning: `never scale above this many instances (at most ${SCALING_MAX_INSTANCES})`,
  },
  targetCpuUtilization: {
    default: 'none',
    meaning: 'target mean CPU, percent of the container request (enabled needs this or memory)',
  },
  targetMemoryUtilization: { default: 'none', meaning: 'target mean memory, percent of the container request' },
  tolerance: {
    default: String(SCALING_DEFAULTS.tolerance),
    meaning: 'no scaling while utilization/target is within 1 ± this',
  },
  scaleUpLookaheadSeconds: {
    default: String(SCALING_DEFAULTS.scaleUpLookaheadSeconds),
    meaning:
      'a load that rose in each of the last two runs is met this far ahead (a worker start-up plus a run interval); 0: off',
  },
  scaleUpMaxStep: {
    default: `the larger of +${HPA_SCALE_UP_POLICY.percent}% and +${HPA_SCALE_UP_POLICY.instances}`,
    meaning: 'most instances added per run',
  },
  scaleDownStabilizationSeconds: {
    default: String(SCALING_DEFAULTS.scaleDownStabilizationSeconds),
    meaning: 'scale down only to the highest recommendation of this window, and never this soon after a scale-up',
  },
  scaleDownMaxStep: { default: String(SCALING_DEFAULTS.scaleDownMaxStep), meaning: 'most instances removed per run' },
  maxMovesPerRun: {
    default: String(SCALING_DEFAULTS.maxMovesPerRun),
    meaning: 'most resources the re-orchestration after a scale moves per run; the rest move in the next runs',
  },
};

/** A whole percent of the container request; above 100 is legal when the limit exceeds the request (as in the HPA). */
const percent = z.int().check(z.minimum(1), z.maximum(1000));

/**
 * The `scaling` object as written in `ORCH_KINDS`: every field optional, an
 * unknown field rejected (a typo must not silently fall back to a default).
 */
export const ScalingConfigSchema = z
  .strictObject({
    enabled: z.optional(z.boolean()),
    minInstances: z.optional(z.int().check(z.minimum(1), z.maximum(SCALING_MAX_INSTANCES))),
    maxInstances: z.optional(z.int().check(z.minimum(1), z.maximum(SCALING_MAX_INSTANCES))),
    targetCpuUtilization: z.optional(percent),
    targetMemoryUtilization: z.optional(percent),
    tolerance: z.optional(z.number().check(z.minimum(0), z.lt(1))),
    scaleUpLookaheadSeconds: z.optional(z.int().check(z.minimum(0), z.maximum(SCALING_MAX_WINDOW_SECONDS))),
    scaleUpMaxStep: z.optional(z.int().check(z.minimum(1))),
    scaleDownStabilizationSeconds: z.optional(z.int().check(z.minimum(0), z.maximum(SCALING_MAX_WINDOW_SECONDS))),
    scaleDownMaxStep: z.optional(z.int().check(z.minimum(1))),
    maxMovesPerRun: z.optional(z.int().check(z.minimum(1))),
  })
  .check(
    z.refine(
      (s) => (s.minInstances ?? SCALING_DEFAULTS.minInstances) <= (s.maxInstances ?? SCALING_DEFAULTS.maxInstances),
      { message: 'minInstances must not exceed maxInstances', path: ['minInstances'] },
    ),
    z.refine((s) => !s.enabled || s.targetCpuUtilization !== undefined || s.targetMemoryUtilization !== undefined, {
      message: 'enabled scaling needs targetCpuUtilization or targetMemoryUtilization',
      path: ['enabled'],
    }),
  );
export type ScalingConfig = z.infer<typeof ScalingConfigSchema>;

/** Scaling settings with every default applied. */
export interface ScalingSettings {
  readonly enabled: boolean;
  readonly minInstances: number;
  readonly maxInstances: number;
  /** Percent of the container request; undefined: CPU is not a scaling metric. */
  readonly targetCpuUtilization: number | undefined;
  /** Percent of the container request; undefined: memory is not a scaling metric. */
  readonly targetMemoryUtilization: number | undefined;
  readonly tolerance: number;
  /** How far ahead a rising load is projected; 0: no projection. */
  readonly scaleUpLookaheadSeconds: number;
  /** Undefined: the HPA rule, see `scaleUpStep`. */
  readonly scaleUpMaxStep: number | undefined;
  readonly scaleDownStabilizationSeconds: number;
  readonly scaleDownMaxStep: number;
  readonly maxMovesPerRun: number;
}

/**
 * The settings with every absent field defaulted. No `scaling` object means
 * scaling disabled. Throws, naming the field, on an invalid object.
 */
export function resolveScaling(input: ScalingConfig | undefined = {}): ScalingSettings {
  const result = ScalingConfigSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`scaling.${issue?.path.join('.') || '(root)'} is invalid: ${issue?.message}`);
  }
  const s = result.data;
  return {
    enabled: s.enabled ?? SCALING_DEFAULTS.enabled,
    minInstances: s.minInstances ?? SCALING_DEFAULTS.minInstances,
    maxInstances: s.maxInstances ?? SCALING_DEFAULTS.maxInstances,
    targetCpuUtilization: s.targetCpuUtilization,
    targetMemoryUtilization: s.targetMemoryUtilization,
    tolerance: s.tolerance ?? SCALING_DEFAULTS.tolerance,
    scaleUpLookaheadSeconds: s.scaleUpLookaheadSeconds ?? SCALING_DEFAULTS.scaleUpLookaheadSeconds,
    scaleUpMaxStep: s.scaleUpMaxStep,
    scaleDownStabilizationSeconds: s.scaleDownStabilizationSeconds ?? SCALING_DEFAULTS.scaleDownStabilizationSeconds,
    scaleDownMaxStep: s.scaleDownMaxStep ?? SCALING_DEFAULTS.scaleDownMaxStep,
    maxMovesPerRun: s.maxMovesPerRun ?? SCALING_DEFAULTS.maxMovesPerRun,
  };
}

/** Most instances one run may add to `current`: `scaleUpMaxStep`, or the HPA's max(+100 %, +4). */
export const scaleUpStep = (settings: Pick<ScalingSettings, 'scaleUpMaxStep'>, current: number): number =>
  settings.scaleUpMaxStep ??
  Math.max(Math.ceil((current * HPA_SCALE_UP_POLICY.percent) / 100), HPA_SCALE_UP_POLICY.instances);
