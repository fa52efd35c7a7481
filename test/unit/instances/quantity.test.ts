import { describe, expect, it } from 'vitest';
import { parseCpuMillis, parseMemoryBytes, parseQuantity } from '../../../lib/instances/kubernetes.js';

describe('Kubernetes quantities', () => {
  it.each([
    ['250m', 250],
    ['1', 1000],
    ['2.5', 2500],
    ['123456n', 0.123456],
    ['1500u', 1.5],
    ['0', 0],
    ['1e3', 1_000_000],
    ['0.1', 100],
  ])('reads CPU %s as %d millicores', (quantity, millis) => {
    expect(parseCpuMillis(quantity)).toBe(millis);
  });

  it.each([
    ['128Mi', 128 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['1000k', 1_000_000],
    ['123456', 123_456],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['64Ki', 65_536],
    ['2M', 2_000_000],
    ['1Ti', 1024 ** 4],
    ['129e6', 129_000_000],
  ])('reads memory %s as %d bytes', (quantity, bytes) => {
    expect(parseMemoryBytes(quantity)).toBe(bytes);
  });

  it.each(['', 'Mi', '12 Mi', '1.2.3', '10mi', '5KiB', 'one'])('rejects %j, naming it', (quantity) => {
    expect(() => parseQuantity(quantity)).toThrow(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
  });
});
