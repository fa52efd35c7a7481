/**
 * The legacy orchestrator's from-scratch method, kept only as the baseline
 * that bench/ and the tests compare `rebalance` against. Nothing in the
 * product calls it, so it lives with the tests: it reshuffles almost every resource whenever the instance
 * count changes, so every worker reloads everything.
 */
export function legacyOrchestrate(
  ids: readonly string[],
  instances: number,
  resourcePerInstance: number,
): Map<string, string[]> {
  if (ids.length > instances * resourcePerInstance) {
    throw new RangeError(`${ids.length} resources do not fit ${instances} x ${resourcePerInstance}`);
  }
  const sorted = [...ids].sort();
  const assignment = new Map<string, string[]>();
  for (let instance = 0; instance < instances; instance += 1) {
    assignment.set(
      String(instance),
      sorted.slice(instance * resourcePerInstance, (instance + 1) * resourcePerInstance),
    );
  }
  return assignment;
}
