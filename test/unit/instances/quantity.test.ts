import { describe, expect, it } from 'vitest';
import { parseCpuMillis, parseMemoryBytes, parseQuantity, percentOf } from '../../../lib/instances/quantity.js';

describe('Kubernetes quantities', () => {
  it.each([
    ['250m', 250],
    ['1', 1000],
    ['0.5', 500],
    ['2.5', 2500],
    ['100n', 0.0001],
    ['123456n', 0.123456],
    ['100u', 0.1],
    ['1500u', 1.5],
    ['0', 0],
    ['1e3', 1_000_000],
    ['0.1', 100],
    ['.5', 500],
  ])('reads CPU %s as %d millicores', (quantity, millis) => {
    expect(parseCpuMillis(quantity)).toBe(millis);
  });

  it.each([
    ['128Mi', 128 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['512M', 512_000_000],
    ['1e3', 1000],
    ['128974848', 128_974_848],
    ['1000k', 1_000_000],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['64Ki', 65_536],
    ['1Ti', 1024 ** 4],
    ['129e6', 129_000_000],
    ['1.1G', 1_100_000_000],
  ])('reads memory %s as %d bytes', (quantity, bytes) => {
    expect(parseMemoryBytes(quantity)).toBe(bytes);
  });

  it.each([
    ['100m', 1],
    ['0.1Gi', 107_374_183],
  ])('rounds a fraction of a byte up, as Quantity.Value() does: %s is %d', (quantity, bytes) => {
    expect(parseMemoryBytes(quantity)).toBe(bytes);
  });

  it.each(['', 'Mi', '12 Mi', '1.2.3', '10mi', '5KiB', 'one'])('rejects %j, naming it', (quantity) => {
    expect(() => parseQuantity(quantity)).toThrow(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
  });
});

describe('percentage of a request', () => {
  it('is the share of the request in percent, past 100 when the pod uses more than it asked for', () => {
    expect(percentOf(120, 250)).toBe(48);
    expect(percentOf(250, 250)).toBe(100);
    expect(percentOf(1000, 250)).toBe(400);
    expect(percentOf(64 * 2 ** 20, 256 * 2 ** 20)).toBe(25);
    expect(percentOf(100, 300)).toBe(33.3333333333);
  });

  it('is undefined without a positive request', () => {
    expect(percentOf(120, undefined)).toBeUndefined();
    expect(percentOf(120, 0)).toBeUndefined();
  });
});
