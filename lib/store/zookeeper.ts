/**
 * The store port over ZooKeeper (node-zookeeper-client), the production backend
 * the existing workers read. Built for short-lived Lambda containers: the
 * sessions, and when one is replaced, are handled in ./zookeeper-session.ts.
 */
import zookeeper from 'node-zookeeper-client';
import { nodeCrypto } from '../lazy-crypto.js';
import type { SecretReader } from '../secrets.js';
import { BaseNodeStore } from './base.js';
import { ConflictError, StoreUnavailableError, type ConflictReason, type VersionedNode, type WriteOp } from './port.js';
import { type Done, type Session, ZooKeeperSessions } from './zookeeper-session.js';

const { ACL, Id, Permission, Exception } = zookeeper;

export interface ZooKeeperStoreOptions {
  /** Connect string: "host:port[,host:port...][/chroot]". */
  readonly connect: string;
  /** Requested session timeout; the server may negotiate it into its own bounds. Default 30000. */
  readonly sessionTimeoutMs?: number;
  /** How long to wait for a session before an operation fails. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** How long one request (or one batch of pipelined reads) may wait for its answer. Default 10000. */
  readonly operationTimeoutMs?: number;
  /** "user:password": authenticate with the digest scheme and protect every node this store creates. */
  readonly auth?: string;
}

const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
// Multi op codes of the ZooKeeper protocol.
const OP_ERROR = -1;

const CONFLICT_CODES: ReadonlyMap<number, ConflictReason> = new Map([
  [Exception.BAD_VERSION, 'BadVersion'],
  [Exception.NODE_EXISTS, 'NodeExists'],
  [Exception.NO_NODE, 'NoNode'],
  [Exception.NOT_EMPTY, 'NotEmpty'],
]);
const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([
  Exception.CONNECTION_LOSS,
  Exception.SESSION_EXPIRED,
  Exception.OPERATION_TIMEOUT,
]);

/**
 * Reads ZK_CONNECT, ZK_SESSION_TIMEOUT_MS (default 30000) and ZK_AUTH ("user:password", optional: the value
 * itself, as `npm start` and `sls invoke local` take it). A deployed function names a secret instead
 * (ZK_AUTH_SECRET, read by zooKeeperOptionsWithSecret); naming both is refused, since either could be the stale one.
 */
export function zooKeeperOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ZooKeeperStoreOptions {
  const connect = env.ZK_CONNECT?.trim();
  if (!connect) throw new Error('ZK_CONNECT is not set: expected "host:port[,host:port...]"');
  const rawTimeout = env.ZK_SESSION_TIMEOUT_MS?.trim();
  let sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS;
  if (rawTimeout) {
    sessionTimeoutMs = Number(rawTimeout);
    if (!Number.isInteger(sessionTimeoutMs) || sessionTimeoutMs <= 0) {
      throw new Error(
        `ZK_SESSION_TIMEOUT_MS must be a positive integer of milliseconds, got ${JSON.stringify(rawTimeout)}`,
      );
    }
  }
  const auth = env.ZK_AUTH;
  if (auth !== undefined && auth !== '') parseAuth(auth, 'ZK_AUTH');
  if (auth && env.ZK_AUTH_SECRET?.trim())
    throw new Error('ZK_AUTH and ZK_AUTH_SECRET are both set: give the value (ZK_AUTH) or the name of its secret');
  return { connect, sessionTimeoutMs, ...(auth ? { auth } : {}) };
}

/** zooKeeperOptionsFromEnv, with the digest auth read from the secret ZK_AUTH_SECRET names, when it names one. */
export async function zooKeeperOptionsWithSecret(
  env: NodeJS.ProcessEnv,
  secrets: SecretReader,
): Promise<ZooKeeperStoreOptions> {
  const options = zooKeeperOptionsFromEnv(env);
  const name = env.ZK_AUTH_SECRET?.trim();
  if (!name) return options;
  const auth = await secrets.read(name);
  parseAuth(auth, `the secret ${JSON.stringify(name)} (ZK_AUTH_SECRET)`);
  return { ...options, auth };
}

/** Splits "user:password" the way ZooKeeper's digest provider does: at the first ':'. */
function parseAuth(auth: string, source = 'auth'): { user: string; password: string } {
  const colon = auth.indexOf(':');
  if (colon <= 0 || colon === auth.length - 1) {
    throw new Error(`${source} must be "user:password" with a non-empty user and password`);
  }
  return { user: auth.slice(0, colon), password: auth.slice(colon + 1) };
}

/** The ACL id ZooKeeper's digest scheme derives from "user:password". */
export function digestId(auth: string): string {
  const { user } = parseAuth(auth);
  return `${user}:${nodeCrypto().createHash('sha1').update(auth, 'utf8').digest('base64')}`;
}

export class ZooKeeperStore extends BaseNodeStore {
  private readonly acls: zookeeper.ACL[];
  private readonly sessions: ZooKeeperSessions;
  /** The `fire` callbacks of pending watches, by path. */
  private readonly watchers = new Map<string, Set<() => void>>();

  private constructor(options: ZooKeeperStoreOptions) {
    super(`zookeeper ${options.connect}`);
    this.sessions = new ZooKeeperSessions({
      connect: options.connect,
      auth: options.auth,
      sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      operationTimeoutMs: options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
      description: this.description,
      closedError: () => this.closedError(),
      toStoreError,
      onWatchLost: (path) => this.notify(path),
    });
    // Workers connect without credentials: they keep read access, only the orchestrator writes.
    this.acls = options.auth
      ? [
          new ACL(Permission.ALL, new Id('digest', digestId(options.auth))),
          new ACL(Permission.READ, new Id('world', 'anyone')),
        ]
      : ACL.OPEN_ACL_UNSAFE;
  }

  /** Opens a session at once, so a wrong connect string fails at start-up rather than on first use. */
  static async connect(options: ZooKeeperStoreOptions): Promise<ZooKeeperStore> {
    if (options.auth) parseAuth(options.auth);
    const store = new ZooKeeperStore(options);
    try {
      await store.sessions.session();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** The client of the live session, if any: for diagnostics and fault-injection tests. */
  get currentClient(): zookeeper.Client | undefined {
    return this.sessions.currentClient;
  }

  protected async readNode(path: string): Promise<VersionedNode | undefined> {
    return this.sessions.run(true, (session) =>
      this.sessions.request(session, (done: Done<VersionedNode | undefined>) => fetchNode(session.client, path, done)),
    );
  }

  protected async readNodes(paths: readonly string[]): Promise<Array<VersionedNode | undefined>> {
    // All reads go out at once; the server answers a session's requests in order, so this costs one round trip.
    return this.sessions.run(true, (session) =>
      this.sessions.request(session, (done: Done<Array<VersionedNode | undefined>>) => {
        const results = new Array<VersionedNode | undefined>(paths.length);
        let pending = paths.length;
        let failed = false;
        for (const [index, path] of paths.entries()) {
          fetchNode(session.client, path, (error, node) => {
            if (failed) return;
            if (error) {
              failed = true;
              done(error);
              return;
            }
            results[index] = node;
            if (--pending === 0) done(null, results);
          });
        }
      }),
    );
  }

  protected async listChildren(path: string): Promise<string[]> {
    return this.sessions.run(true, (session) =>
      this.sessions.request(session, (done: Done<string[]>) =>
        session.client.getChildren(path, (error, children) => {
          if (error && codeOf(error) === Exception.NO_NODE) done(null, []);
          else if (error) done(error);
          else done(null, children);
        }),
      ),
    );
  }

  protected async applyOps(ops: readonly WriteOp[]): Promise<void> {
    // Never retried here: a multi that was sent may have been applied before the answer was lost.
    await this.sessions.run(false, (session) =>
      this.sessions.request(session, (done: Done<void>) => {
        const transaction = session.client.transaction();
        for (const op of ops) {
          switch (op.op) {
            case 'create':
              transaction.create(op.path, Buffer.from(op.data, 'utf8'), this.acls);
              break;
            case 'set':
              transaction.setData(op.path, Buffer.from(op.data, 'utf8'), op.version);
              break;
            case 'remove':
              transaction.remove(op.path, op.version);
              break;
            case 'check':
              transaction.check(op.path, op.version);
              break;
          }
          // The library's multi builders turn version 0 into -1 (`version || -1`), which would
          // make a compare-and-set on a fresh node match any version: put the real one back.
          if (op.op !== 'create') {
            const queued = transaction.ops[transaction.ops.length - 1];
            if (queued) queued.version = op.version;
          }
        }
        transaction.commit((error, results) => {
          if (!error) return done(null);
          // A failed multi answers one error entry per op: OK before the culprit, RUNTIME_INCONSISTENCY after it.
          const failedAt =
            results?.findIndex(
              (result) =>
                result.type === OP_ERROR &&
                result.err !== undefined &&
                result.err !== Exception.OK &&
                result.err !== Exception.RUNTIME_INCONSISTENCY,
            ) ?? -1;
          const code = (failedAt >= 0 ? results?.[failedAt]?.err : undefined) ?? codeOf(error);
          done(toStoreError(error, code, failedAt >= 0 ? ops[failedAt]?.path : undefined));
        });
      }),
    );
  }

  protected async createPath(_path: string, ancestry: readonly string[]): Promise<void> {
    // Pipelined like readNodes: the server applies one session's creates in order, so each finds its parent.
    await this.sessions.run(true, (session) =>
      this.sessions.request(session, (done: Done<void>) => {
        let pending = ancestry.length;
        let failed = false;
        for (const node of ancestry) {
          session.client.create(node, Buffer.alloc(0), this.acls, (error) => {
            if (failed) return;
            if (error && codeOf(error) !== Exception.NODE_EXISTS) {
              failed = true;
              done(toStoreError(error, codeOf(error), node));
              return;
            }
            if (--pending === 0) done(null);
          });
        }
      }),
    );
  }

  protected startWatch(path: string, fire: () => void): () => void {
    let waiting = this.watchers.get(path);
    if (!waiting) this.watchers.set(path, (waiting = new Set()));
    waiting.add(fire);
    this.arm(path);
    return () => {
      const set = this.watchers.get(path);
      set?.delete(fire);
      if (set?.size === 0) this.watchers.delete(path);
    };
  }

  protected async probe(): Promise<void> {
    await this.sessions.run(true, (session) =>
      this.sessions.request(session, (done: Done<unknown>) => session.client.exists('/', done)),
    );
  }

  /** The base has cancelled every watch by now, so retiring the session fires none. */
  protected async release(): Promise<void> {
    await this.sessions.close();
  }

  /** Sets one ZooKeeper watch per path and session; every watcher of the path shares it. */
  private arm(path: string): void {
    const armOn = (session: Session): void => {
      if (session.dead || session.armed.has(path) || !this.watchers.has(path)) return;
      session.armed.add(path);
      // `exists` leaves a data watch on a node and a creation watch on a missing one: one round trip either way.
      this.sessions
        .request(session, (done: Done<unknown>) =>
          session.client.exists(
            path,
            () => {
              session.armed.delete(path);
              if (!session.dead) this.notify(path);
            },
            done,
          ),
        )
        .catch((error: unknown) => {
          const mapped = toStoreError(error);
          if (mapped instanceof StoreUnavailableError) this.sessions.discard(session, mapped);
          else {
            session.armed.delete(path);
            this.notify(path);
          }
        });
    };
    const live = this.sessions.connectedSession;
    // Armed synchronously when connected, so a commit issued right after `watch` is seen by the watch.
    if (live) armOn(live);
    else this.sessions.session().then(armOn, () => this.notify(path));
  }

  private notify(path: string): void {
    const waiting = this.watchers.get(path);
    if (!waiting) return;
    this.watchers.delete(path);
    for (const fire of waiting) fire();
  }
}

function fetchNode(client: zookeeper.Client, path: string, done: Done<VersionedNode | undefined>): void {
  client.getData(path, (error, data, stat) => {
    if (error && codeOf(error) === Exception.NO_NODE) done(null, undefined);
    else if (error) done(error);
    // A node created without data (the legacy `tmp` node) has null data.
    else done(null, { path, data: data ? data.toString('utf8') : '', version: stat.version });
  });
}

function codeOf(error: unknown): number | undefined {
  return error instanceof Exception ? error.getCode() : undefined;
}

/** Maps a library error (or a multi's failing result code) to the port's errors; `path` names the failing op. */
function toStoreError(error: unknown, code = codeOf(error), path?: string): Error {
  if (error instanceof ConflictError || error instanceof StoreUnavailableError) return error;
  if (code === undefined) return error instanceof Error ? error : new Error(String(error));
  const at = path ?? (error instanceof Exception ? error.getPath() : undefined);
  const reason = CONFLICT_CODES.get(code);
  if (reason) return new ConflictError(reason, at);
  const name = error instanceof Exception && error.getCode() === code ? error.getName() : `error ${code}`;
  if (UNAVAILABLE_CODES.has(code)) return new StoreUnavailableError(`ZooKeeper ${name}`, { cause: error });
  return new Error(`ZooKeeper refused the request: ${name}${at ? ` at ${at}` : ''}`, { cause: error });
}
