/**
 * Orchestration options and the legacy capacity rule (SPEC §3). Pure.
 */
import { CapacityError, InvalidOptionError } from './errors.js';

export interface OrchestrateOptions {
  initInstances: number;
  maxInstances: number;
  resourcePerInstance: number;
}

export interface OrchestrateOptionsInput {
  initInstances?: number | undefined;
  maxInstances?: number | undefined;
  resourcePerInstance?: number | undefined;
}

/**
 * The numbers users know from the legacy orchestrator. The defaults lie just
 * outside the ranges a caller may pass: legacy used them as the fallback for
 * anything out of range, and we keep them as the fallback for absent fields.
 * `initInstances` has no global default: it comes from the resource kind.
 */
export const LEGACY_LIMITS = {
  maxInstances: { min: 3, maxExclusive: 100, default: 100, range: '[3, 100)' },
  resourcePerInstance: { minExclusive: 0, maxExclusive: 5000, default: 5000, range: '(0, 5000)' },
  initInstances: { min: 1 },
} as const;

const isIntegerIn = (value: number, min: number, maxExclusive: number): boolean =>
  Number.isInteger(value) && value >= min && value < maxExclusive;

/**
 * Absent fields take their defaults; a present field outside its range is
 * rejected (legacy silently replaced it, which hid typos from the caller).
 * An absent `initInstances` is capped at `maxInstances`, so that asking for a
 * small pool is not contradicted by the kind's larger initial size.
 */
export function resolveOptions(
  input: OrchestrateOptionsInput,
  defaults: { initInstances: number },
): OrchestrateOptions {
  const { maxInstances: maxLimits, resourcePerInstance: rpiLimits } = LEGACY_LIMITS;

  const maxInstances = input.maxInstances ?? maxLimits.default;
  if (input.maxInstances !== undefined && !isIntegerIn(maxInstances, maxLimits.min, maxLimits.maxExclusive)) {
    throw new InvalidOptionError('maxInstances', maxLimits.range, input.maxInstances);
  }

  const resourcePerInstance = input.resourcePerInstance ?? rpiLimits.default;
  if (
    input.resourcePerInstance !== undefined &&
    !isIntegerIn(resourcePerInstance, rpiLimits.minExclusive + 1, rpiLimits.maxExclusive)
  ) {
    throw new InvalidOptionError('resourcePerInstance', rpiLimits.range, input.resourcePerInstance);
  }

  const initInstances = input.initInstances ?? Math.min(defaults.initInstances, maxInstances);
  if (!isIntegerIn(initInstances, LEGACY_LIMITS.initInstances.min, maxInstances + 1)) {
    throw new InvalidOptionError(
      'initInstances',
      `[${LEGACY_LIMITS.initInstances.min}, ${maxInstances}]`,
      input.initInstances ?? defaults.initInstances,
    );
  }

  return { initInstances, maxInstances, resourcePerInstance };
}

export interface CapacityPlan {
  instances: number;
  resourcePerInstance: number;
}

/**
 * The legacy sizing rule, exactly: one instance per `resourcePerInstance`
 * resources plus one; never more than `maxInstances`; never fewer than
 * `initInstances`, in which case the load is spread over them.
 */
export function planCapacity(resourceCount: number, options: OrchestrateOptions): CapacityPlan {
  if (!Number.isInteger(resourceCount) || resourceCount < 0) {
    throw new RangeError(`resourceCount must be a non-negative integer, got ${resourceCount}`);
  }
  const instances = Math.floor(resourceCount / options.resourcePerInstance) + 1;
  if (instances > options.maxInstances) throw new CapacityError(instances, options.maxInstances);
  if (instances < options.initInstances) {
    return {
      instances: options.initInstances,
      resourcePerInstance: Math.floor(resourceCount / options.initInstances) + 1,
    };
  }
  return { instances, resourcePerInstance: options.resourcePerInstance };
}
