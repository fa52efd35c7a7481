/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), as the API server
 * serialises them in pod specs and metrics-server in pod metrics: "250m", "1", "0.5",
 * "123456n", "128Mi", "512M", "1e3", "128974848".
 */

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|(n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Drops binary floating-point noise (0.1 * 1000 = 100.00000000000001) from a derived value. */
export const tidy = (value: number): number => Number(value.toPrecision(12));

/** A quantity in base units (cores, bytes). Throws on anything Kubernetes would not accept. */
export function parseQuantity(quantity: string): number {
  const match = QUANTITY.exec(quantity.trim());
  if (!match) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
  const [, number, binary, decimal, exponent] = match;
  const value = Number(number);
  if (binary) return value * BINARY[binary]!;
  if (decimal) return value * DECIMAL[decimal]!;
  if (exponent) return value * 10 ** Number(exponent);
  return value;
}

/** CPU quantity → millicores, fractional: metrics-server reports nanocores ("123456n" = 0.123456). */
export const parseCpuMillis = (quantity: string): number => tidy(parseQuantity(quantity) * 1000);

/** Memory quantity → whole bytes, rounded up as Quantity.Value() does ("100m" = 1). */
export function parseMemoryBytes(quantity: string): number {
  const bytes = parseQuantity(quantity);
  const nearest = Math.round(bytes);
  // A product like 1.1 * 1e9 lands a few ulps off the integer it denotes: that is not a fraction to round up.
  return Math.abs(bytes - nearest) <= Math.abs(bytes) * Number.EPSILON * 4 ? nearest : Math.ceil(bytes);
}

/**
 * `used` as a percentage of `requested`; undefined without a positive request, as the
 * HorizontalPodAutoscaler leaves utilisation undefined for a pod without requests.
 */
export const percentOf = (used: number, requested: number | undefined): number | undefined =>
  requested !== undefined && requested > 0 ? tidy((used / requested) * 100) : undefined;
