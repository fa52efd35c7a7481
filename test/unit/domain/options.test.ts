import { describe, expect, it } from 'vitest';
import { CapacityError, InvalidOptionError } from '../../../lib/domain/errors.js';
import { LEGACY_LIMITS, planCapacity, resolveOptions, type OrchestrateOptions } from '../../../lib/domain/options.js';

const kindDefaults = { initInstances: 10 };
const legacyDefaults: OrchestrateOptions = { initInstances: 10, maxInstances: 100, resourcePerInstance: 5000 };

describe('resolveOptions', () => {
  it('takes the legacy defaults, and the kind initial size, for absent fields', () => {
    const options = resolveOptions({}, kindDefaults);

    expect(options).toEqual(legacyDefaults);
    expect(options.maxInstances).toBe(LEGACY_LIMITS.maxInstances.default);
    expect(options.resourcePerInstance).toBe(LEGACY_LIMITS.resourcePerInstance.default);
  });

  it('keeps every field given within its range', () => {
    const options = resolveOptions({ initInstances: 3, maxInstances: 3, resourcePerInstance: 1 }, kindDefaults);

    expect(options).toEqual({ initInstances: 3, maxInstances: 3, resourcePerInstance: 1 });
  });

  it('accepts the upper edges of the ranges', () => {
    const options = resolveOptions({ initInstances: 99, maxInstances: 99, resourcePerInstance: 4999 }, kindDefaults);

    expect(options).toEqual({ initInstances: 99, maxInstances: 99, resourcePerInstance: 4999 });
  });

  it('caps an absent initInstances at a smaller maxInstances', () => {
    const options = resolveOptions({ maxInstances: 4 }, kindDefaults);

    expect(options.initInstances).toBe(4);
  });

  it.each([
    ['maxInstances', 2, '[3, 100)'],
    ['maxInstances', 100, '[3, 100)'],
    ['maxInstances', 7.5, '[3, 100)'],
    ['maxInstances', Number.NaN, '[3, 100)'],
    ['resourcePerInstance', 0, '(0, 5000)'],
    ['resourcePerInstance', 5000, '(0, 5000)'],
    ['resourcePerInstance', -1, '(0, 5000)'],
    ['initInstances', 0, '[1, 100]'],
    ['initInstances', 101, '[1, 100]'],
    ['initInstances', 2.5, '[1, 100]'],
  ] as const)('rejects %s = %s, naming the range %s', (field, value, range) => {
    const act = () => resolveOptions({ [field]: value }, kindDefaults);

    expect(act).toThrow(InvalidOptionError);
    expect(act).toThrow(expect.objectContaining({ field, range, received: value }));
  });

  it('checks initInstances against the maxInstances given with it', () => {
    const act = () => resolveOptions({ initInstances: 20, maxInstances: 10 }, kindDefaults);

    expect(act).toThrow(expect.objectContaining({ field: 'initInstances', range: '[1, 10]', received: 20 }));
    expect(act).toThrow('initInstances must be an integer in [1, 10], got 20');
  });

  it('rejects a value of the wrong type that slipped past the boundary', () => {
    const act = () => resolveOptions({ maxInstances: '50' as unknown as number }, kindDefaults);

    expect(act).toThrow(expect.objectContaining({ field: 'maxInstances', received: '50' }));
  });
});

describe('planCapacity', () => {
  it('spreads nothing over the initial instances, one resource each', () => {
    expect(planCapacity(0, legacyDefaults)).toEqual({ instances: 10, resourcePerInstance: 1 });
  });

  it('spreads a small load over the initial instances', () => {
    expect(planCapacity(1234, legacyDefaults)).toEqual({ instances: 10, resourcePerInstance: 124 });
  });

  it('uses one instance per resourcePerInstance plus one above the initial size', () => {
    expect(planCapacity(60_000, legacyDefaults)).toEqual({ instances: 13, resourcePerInstance: 5000 });
  });

  it('allows exactly maxInstances', () => {
    expect(planCapacity(499_999, legacyDefaults)).toEqual({ instances: 100, resourcePerInstance: 5000 });
  });

  it('refuses more than maxInstances with the legacy message', () => {
    const act = () => planCapacity(500_000, legacyDefaults);

    expect(act).toThrow(CapacityError);
    expect(act).toThrow('require instances more than the max: 101/100');
  });

  it('rejects a negative or fractional count', () => {
    expect(() => planCapacity(-1, legacyDefaults)).toThrow(RangeError);
    expect(() => planCapacity(1.5, legacyDefaults)).toThrow(RangeError);
  });
});
