/**
 * The store port: a small tree of versioned nodes with atomic multi-node
 * compare-and-set, shaped after ZooKeeper so the ZooKeeper adapter is a thin
 * mapping and the embedded SQLite adapter reproduces the same semantics.
 *
 * Rules every adapter keeps (checked by test/contract/store.contract.ts):
 * - paths are absolute, '/'-separated, no trailing slash; a node's parent must exist to create it;
 * - every node has a version that starts at 0 and grows by 1 on each `set`;
 * - `commit` applies all of its ops or none; a failed version check, a create
 *   of an existing node or an op on a missing node rejects with `ConflictError`
 *   and writes nothing;
 * - removing a node that still has children rejects with `ConflictError` (NotEmpty).
 * The rules that need no backend (path checks, empty input, closed store, sorting,
 * one-shot watches) live once in base.ts, which both adapters extend.
 */

export const ANY_VERSION = -1;

export interface VersionedNode {
  readonly path: string;
  /** UTF-8 payload; ZooKeeper stores it as bytes. Empty string for a data-less node. */
  readonly data: string;
  readonly version: number;
}

export type WriteOp =
  | { readonly op: 'create'; readonly path: string; readonly data: string }
  | { readonly op: 'set'; readonly path: string; readonly data: string; readonly version: number }
  | { readonly op: 'remove'; readonly path: string; readonly version: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type ConflictReason = 'BadVersion' | 'NodeExists' | 'NoNode' | 'NotEmpty';

/** A compare-and-set lost a race. Nothing was written; re-read and try again. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  readonly retryable = true;
  constructor(
    readonly reason: ConflictReason,
    /** The path of the first op that failed, when the backend tells it. */
    readonly path: string | undefined,
    message?: string,
  ) {
    super(message ?? `${reason}${path ? ` at ${path}` : ''}`);
  }
}

/** The backend cannot be reached (connection lost, session expired, disk error). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface NodeStore {
  /** Human-readable name of the backend, for logs and the start-up banner. */
  readonly description: string;
  get(path: string): Promise<VersionedNode | undefined>;
  /** Many reads at once; the result is in the order of `paths`. */
  getMany(paths: readonly string[]): Promise<Array<VersionedNode | undefined>>;
  /** Child names (not paths), sorted; [] when the node is missing. */
  children(path: string): Promise<string[]>;
  /** Atomic multi-op; throws ConflictError (nothing written) or StoreUnavailableError. */
  commit(ops: readonly WriteOp[]): Promise<void>;
  /** Creates the path and any missing ancestors with empty data; idempotent. */
  ensurePath(path: string): Promise<void>;
  /**
   * Calls `onChange` once when the node's data or existence changes after this
   * call (ZooKeeper: a data watch; SQLite: polling). Returns a cancel function.
   */
  watch(path: string, onChange: () => void): () => void;
  /** Cheap reachability check for health endpoints. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Which errors are worth another attempt; default: ConflictError. */
  readonly retryOn?: (error: unknown) => boolean;
}

export const isConflict = (error: unknown): error is ConflictError => error instanceof ConflictError;

/** The node was not there: for a remove or set of something that may already be gone, nothing is left to do. */
export const isNoNode = (error: unknown): boolean => isConflict(error) && error.reason === 'NoNode';

/** The node was there already: for a create of something that may exist, nothing is left to do. */
export const isNodeExists = (error: unknown): boolean => isConflict(error) && error.reason === 'NodeExists';

/**
 * Commits creates of nodes in `folder`, making the folder (with its ancestors) only when a create finds
 * it missing: a folder is made by the first write into it, not checked before every one (a round trip).
 */
export async function createInFolder(
  store: NodeStore,
  folder: string,
  creates: ReadonlyArray<Extract<WriteOp, { op: 'create' }>>,
): Promise<void> {
  try {
    await store.commit(creates);
  } catch (error) {
    if (!isNoNode(error)) throw error;
    await store.ensurePath(folder);
    await store.commit(creates);
  }
}

/** Removes nodes that may already be gone, each on its own (one missing node does not stop the others). */
export async function removeIfPresent(store: NodeStore, paths: readonly string[]): Promise<void> {
  await Promise.all(
    paths.map((path) =>
      store.commit([{ op: 'remove', path, version: ANY_VERSION }]).catch((error: unknown) => {
        if (!isNoNode(error)) throw error;
      }),
    ),
  );
}

/**
 * Runs `attempt` until it succeeds, retrying conflicts with capped exponential
 * backoff and full jitter (so racing writers spread out instead of colliding
 * again in lockstep). The last error is rethrown once attempts run out.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 250;
  const retryOn = options.retryOn ?? isConflict;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= attempts || !retryOn(error)) throw error;
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}

export const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

/**
 * Throws unless `path` is a node path by ZooKeeper's rules (absolute, no
 * trailing '/', no empty, '.' or '..' segment), so both adapters refuse the
 * same paths with the same error before touching their backend.
 */
export function assertValidPath(path: string): void {
  const refuse = (problem: string): never => {
    throw new TypeError(`Invalid node path ${JSON.stringify(path)}: ${problem}`);
  };
  if (typeof path !== 'string' || !path.startsWith('/')) refuse('must start with /');
  if (path === '/') return;
  if (path.endsWith('/')) refuse('must not end with /');
  if (path.includes('//')) refuse('must not contain an empty segment');
  if (/\/\.\.?(\/|$)/.test(path)) refuse('must not contain . or .. segments');
  if (path.includes('\u0000')) refuse('must not contain NUL');
}
