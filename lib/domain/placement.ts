/**
 * Placing one new resource (SPEC §3 "New resource") and the state changes of
 * one instance. Pure.
 */
import { byNumericId, INSTANCE_ID, type InstanceState } from './orchestration.js';

export interface PlacementChoice {
  instanceId: string;
  /** The instance does not exist yet: every existing one is full. */
  isNew: boolean;
}

export interface PlacementOptions {
  /** Instances to avoid while any other has room (e.g. ones the caller is already writing). */
  exclude?: ReadonlySet<string>;
}

/**
 * The instance a new resource goes to: "power of two choices". The id's two
 * highest rendezvous scores among the instances with room are its candidates
 * and the less used of the two wins. Balance stays within a few resources of
 * the mean, and, unlike "the least used instance", writers placing different
 * ids from the same (possibly stale) view pick different instances instead of
 * all racing for the one znode that is least used. When every instance is
 * full, a new instance with the smallest unused id.
 */
export function choosePlacement(
  instances: readonly InstanceState[],
  resourceId: string,
  options: PlacementOptions = {},
): PlacementChoice {
  const withRoom = instances.filter((instance) => instance.used < instance.count);
  const exclude = options.exclude;
  const preferred = exclude ? withRoom.filter((instance) => !exclude.has(instance.id)) : withRoom;
  const candidates = preferred.length > 0 ? preferred : withRoom;

  let first: { instance: InstanceState; score: number } | undefined;
  let second: { instance: InstanceState; score: number } | undefined;
  for (const instance of candidates) {
    const scored = { instance, score: rendezvousScore(resourceId, instance.id) };
    if (!first || outranks(scored, first)) [first, second] = [scored, first];
    else if (!second || outranks(scored, second)) second = scored;
  }
  if (!first) return { instanceId: smallestUnusedId(instances.map((instance) => instance.id)), isNew: true };
  const best = second && second.instance.used < first.instance.used ? second : first;
  return { instanceId: best.instance.id, isNew: false };
}

/** Higher score first; equal scores (vanishingly rare) by lower instance id, so the result never depends on input order. */
const outranks = (a: { instance: InstanceState; score: number }, b: { instance: InstanceState; score: number }): boolean =>
  a.score > b.score || (a.score === b.score && byNumericId(a.instance, b.instance) < 0);

/** The smallest non-negative integer, in decimal, that is not among `ids`. */
export function smallestUnusedId(ids: Iterable<string>): string {
  const taken = new Set<number>();
  for (const id of ids) if (INSTANCE_ID.test(id)) taken.add(Number(id));
  let candidate = 0;
  while (taken.has(candidate)) candidate += 1;
  return String(candidate);
}

export const newInstance = (id: string, count: number): InstanceState => ({
  id,
  used: 0,
  count,
  ids: [],
  reloadTimes: 0,
});

/**
 * `ids` appended to the instance's list. Every change bumps `reloadTimes`,
 * since workers only re-read their list when `_reload` changes; adding nothing
 * is no change and returns the instance as it is.
 */
export function withAdded(instance: InstanceState, ids: readonly string[]): InstanceState {
  if (ids.length === 0) return instance;
  const next = [...instance.ids, ...ids];
  if (next.length > instance.count) {
    throw new RangeError(
      `instance ${instance.id} holds ${instance.ids.length}/${instance.count}: no room for ${ids.length} more`,
    );
  }
  if (new Set(next).size !== next.length) {
    throw new RangeError(`instance ${instance.id} would hold a resource id twice`);
  }
  return { ...instance, ids: next, used: next.length, reloadTimes: instance.reloadTimes + 1 };
}

/** `ids` taken off the instance's list; ids it does not hold are ignored. */
export function withRemoved(instance: InstanceState, ids: readonly string[]): InstanceState {
  const leaving = new Set(ids);
  const next = instance.ids.filter((id) => !leaving.has(id));
  if (next.length === instance.ids.length) return instance;
  return { ...instance, ids: next, used: next.length, reloadTimes: instance.reloadTimes + 1 };
}

/**
 * FNV-1a over the UTF-16 code units of both strings, then the murmur3
 * finaliser: FNV alone barely mixes a change in the last character (instance
 * ids differ only there) into the high bits that decide the comparison.
 */
function rendezvousScore(resourceId: string, instanceId: string): number {
  let hash = 0x811c9dc5;
  const key = `${resourceId}\u0000${instanceId}`;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
