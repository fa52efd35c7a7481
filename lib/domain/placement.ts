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
  /** The kind's capacity per instance; default each instance's own `count`. */
  capacity?: number;
  /** No new instance beyond this many; default unbounded. */
  maxInstances?: number;
}

/**
 * The instance a new resource goes to (SPEC §3): the least-loaded instance
 * with room. Ties, common once an orchestrate has spread the load, go to the
 * id's highest rendezvous score, so writers placing different ids from the
 * same view pick different instances instead of all racing for one znode.
 * When every instance is full, a new instance with the smallest unused id,
 * unless the kind already has `maxInstances`: then undefined (the caller keeps
 * the resource pending).
 */
export function choosePlacement(
  instances: readonly InstanceState[],
  resourceId: string,
  options: PlacementOptions = {},
): PlacementChoice | undefined {
  const roomOf = (instance: InstanceState): number =>
    isDraining(instance) ? 0 : (options.capacity ?? instance.count) - instance.used;
  const withRoom = instances.filter((instance) => roomOf(instance) > 0);
  const exclude = options.exclude;
  const preferred = exclude ? withRoom.filter((instance) => !exclude.has(instance.id)) : withRoom;
  const candidates = preferred.length > 0 ? preferred : withRoom;
  if (candidates.length === 0) {
    if (options.maxInstances !== undefined && instances.length >= options.maxInstances) return undefined;
    return { instanceId: smallestUnusedId(instances.map((instance) => instance.id)), isNew: true };
  }
  const leastUsed = Math.min(...candidates.map((instance) => instance.used));
  let best: { instance: InstanceState; score: number } | undefined;
  for (const instance of candidates) {
    if (instance.used !== leastUsed) continue;
    const scored = { instance, score: rendezvousScore(resourceId, instance.id) };
    if (!best || outranks(scored, best)) best = scored;
  }
  return { instanceId: best!.instance.id, isNew: false };
}

/** Higher score first; equal scores (vanishingly rare) by lower instance id, so the result never depends on input order. */
const outranks = (
  a: { instance: InstanceState; score: number },
  b: { instance: InstanceState; score: number },
): boolean => a.score > b.score || (a.score === b.score && byNumericId(a.instance, b.instance) < 0);

/**
 * A draining instance (a scale-in is emptying it) is stored with capacity
 * `count` 0: the legacy rule "room while used < count" already finds none in
 * it, and the mark is written with the instance itself, so it is as durable
 * as the list and no other node can disagree with it.
 */
export const DRAINING_COUNT = 0;
export const isDraining = (instance: { readonly count: number }): boolean => instance.count === DRAINING_COUNT;

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
