/**
 * The orchestration of one resource kind, as the workers see it in ZooKeeper:
 * instances "0", "1", ... each with `used`/`count`, its resource ids and its
 * `_reload` counter. Pure data; no I/O here.
 */
export interface InstanceState {
  /** A small non-negative integer in decimal, as in the znode name. */
  readonly id: string;
  readonly used: number;
  readonly count: number;
  readonly ids: readonly string[];
  readonly reloadTimes: number;
}

/** Resource ids per instance id. */
export type Assignment = ReadonlyMap<string, readonly string[]>;

/** One step of a move plan: these ids leave `from` and join `to`. */
export interface Move {
  readonly from: string;
  readonly to: string;
  readonly ids: readonly string[];
}

export const byNumericId = (a: { id: string } | string, b: { id: string } | string): number => {
  const x = typeof a === 'string' ? a : a.id;
  const y = typeof b === 'string' ? b : b.id;
  return Number(x) - Number(y) || (x < y ? -1 : x > y ? 1 : 0);
};

export const INSTANCE_ID = /^(0|[1-9][0-9]{0,5})$/;
