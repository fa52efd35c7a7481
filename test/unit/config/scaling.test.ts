import { describe, expect, it } from 'vitest';
import { kindsFromEnv } from '../../../lib/config/kinds.js';
import {
  resolveScaling,
  SCALING_DEFAULTS,
  SCALING_FIELDS,
  type ScalingSettings,
  scaleUpStep,
} from '../../../lib/config/scaling.js';
import { LEGACY_LIMITS } from '../../../lib/domain/options.js';

const DISABLED: ScalingSettings = {
  enabled: false,
  minInstances: 1,
  maxInstances: 100,
  targetCpuUtilization: undefined,
  targetMemoryUtilization: undefined,
  tolerance: 0.1,
  scaleUpLookaheadSeconds: 240,
  scaleUpMaxStep: undefined,
  scaleDownStabilizationSeconds: 300,
  scaleDownMaxStep: 1,
  maxMovesPerRun: 5000,
};

describe('resolveScaling', () => {
  it('leaves scaling disabled, with every default, when a kind has no scaling object', () => {
    expect(resolveScaling(undefined)).toEqual(DISABLED);
    expect(resolveScaling({})).toEqual(DISABLED);
  });

  it('takes maxInstances from the legacy limit users know', () => {
    expect(resolveScaling().maxInstances).toBe(LEGACY_LIMITS.maxInstances.default);
    expect(SCALING_DEFAULTS.maxInstances).toBe(LEGACY_LIMITS.maxInstances.default);
  });

  it('defaults every field but the ones given', () => {
    const settings = resolveScaling({ enabled: true, targetCpuUtilization: 60, scaleDownMaxStep: 2 });

    expect(settings).toEqual({ ...DISABLED, enabled: true, targetCpuUtilization: 60, scaleDownMaxStep: 2 });
  });

  it('keeps every field given within its range', () => {
    const given = {
      enabled: true,
      minInstances: 2,
      maxInstances: 2,
      targetCpuUtilization: 150,
      targetMemoryUtilization: 80,
      tolerance: 0,
      scaleUpLookaheadSeconds: 0,
      scaleUpMaxStep: 3,
      scaleDownStabilizationSeconds: 3600,
      scaleDownMaxStep: 4,
      maxMovesPerRun: 1,
    };

    expect(resolveScaling(given)).toEqual(given);
  });

  it.each([
    [
      { minInstances: 5, maxInstances: 4 },
      'scaling.minInstances is invalid: minInstances must not exceed maxInstances',
    ],
    [{ minInstances: 101 }, 'scaling.minInstances is invalid'],
    [{ maxInstances: 101 }, 'scaling.maxInstances is invalid'],
    [{ maxInstances: 0 }, 'scaling.maxInstances is invalid'],
    [
      { enabled: true },
      'scaling.enabled is invalid: enabled scaling needs targetCpuUtilization or targetMemoryUtilization',
    ],
    [{ targetCpuUtilization: 0.6 }, 'scaling.targetCpuUtilization is invalid'],
    [{ targetMemoryUtilization: 0 }, 'scaling.targetMemoryUtilization is invalid'],
    [{ tolerance: 1 }, 'scaling.tolerance is invalid'],
    [{ scaleUpMaxStep: 0 }, 'scaling.scaleUpMaxStep is invalid'],
    [{ scaleDownStabilizationSeconds: 3601 }, 'scaling.scaleDownStabilizationSeconds is invalid'],
    [{ scaleDownMaxStep: 1.5 }, 'scaling.scaleDownMaxStep is invalid'],
    [{ maxMovesPerRun: 0 }, 'scaling.maxMovesPerRun is invalid'],
  ])('rejects %j, naming the field', (config, message) => {
    expect(() => resolveScaling(config)).toThrow(message);
  });

  it('rejects an unknown field rather than ignoring a typo', () => {
    expect(() => resolveScaling({ minInstance: 3 } as never)).toThrow(/Unrecognized key.*minInstance/);
  });

  it('describes every field for the README table', () => {
    expect(Object.keys(SCALING_FIELDS).sort()).toEqual(Object.keys(DISABLED).sort());
    expect(SCALING_FIELDS.scaleUpMaxStep.default).toBe('the larger of +100% and +4');
  });
});

describe('scaleUpStep', () => {
  it.each([
    [1, 4],
    [3, 4],
    [4, 4],
    [10, 10],
    [50, 50],
  ])('adds the larger of 100%% and 4 to %i instances: %i', (current, step) => {
    expect(scaleUpStep(resolveScaling(), current)).toBe(step);
  });

  it('adds scaleUpMaxStep when it is set', () => {
    expect(scaleUpStep(resolveScaling({ scaleUpMaxStep: 2 }), 10)).toBe(2);
  });
});

describe('ORCH_KINDS with scaling', () => {
  it('reads a kind scaling object', () => {
    const env = {
      ORCH_KINDS: JSON.stringify([
        {
          resource: 'Thing',
          instanceName: 'iota-dac',
          heartbeat: true,
          initInstances: 10,
          scaling: { enabled: true, targetCpuUtilization: 60 },
        },
      ]),
    };

    const [thing] = kindsFromEnv(env);

    expect(thing?.scaling).toEqual({ enabled: true, targetCpuUtilization: 60 });
    expect(resolveScaling(thing?.scaling)).toEqual({ ...DISABLED, enabled: true, targetCpuUtilization: 60 });
  });

  it('rejects an invalid scaling object at start-up, naming where', () => {
    const env = {
      ORCH_KINDS: JSON.stringify([
        {
          resource: 'Rule',
          instanceName: 'iota-rules-engine',
          heartbeat: false,
          initInstances: 10,
          scaling: { enabled: true },
        },
      ]),
    };

    expect(() => kindsFromEnv(env)).toThrow(
      'ORCH_KINDS is invalid at 0.scaling.enabled: enabled scaling needs targetCpuUtilization or targetMemoryUtilization',
    );
  });
});
