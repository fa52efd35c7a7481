/**
 * The store port over ZooKeeper (node-zookeeper-client), the production backend
 * the existing workers read. Built for short-lived Lambda containers: one client
 * per live session, replaced whenever the session is lost, expired, timed out or
 * the process was paused for longer than the session can survive.
 */
import { createHash } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import {
  ConflictError,
  StoreUnavailableError,
  assertValidPath,
  type ConflictReason,
  type NodeStore,
  type VersionedNode,
  type WriteOp,
} from './port.js';

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
/** How long `close` waits for the server to acknowledge the end of a session before dropping the socket. */
const CLOSE_GRACE_MS = 1000;

// Terminal ConnectionManager states of the library (internal, see the typing).
const MANAGER_CLOSING = -1;
const MANAGER_CLOSED = -2;
const MANAGER_EXPIRED = -3;
const MANAGER_AUTH_FAILED = -4;
// Multi op codes of the ZooKeeper protocol.
const OP_ERROR = -1;

const CONFLICT_CODES: ReadonlyMap<number, ConflictReason> = new Map([
  [Exception.BAD_VERSION, 'BadVersion'],
  [Exception.NODE_EXISTS, 'NodeExists'],
  [Exception.NO_NODE, 'NoNode'],
  [Exception.NOT_EMPTY, 'NotEmpty'],
]);
const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([Exception.CONNECTION_LOSS, Exception.SESSION_EXPIRED, Exception.OPERATION_TIMEOUT]);

/** Reads ZK_CONNECT, ZK_SESSION_TIMEOUT_MS (default 30000) and ZK_AUTH ("user:password", optional). */
export function zooKeeperOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ZooKeeperStoreOptions {
  const connect = env.ZK_CONNECT?.trim();
  if (!connect) throw new Error('ZK_CONNECT is not set: expected "host:port[,host:port...]"');
  const rawTimeout = env.ZK_SESSION_TIMEOUT_MS?.trim();
  let sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS;
  if (rawTimeout) {
    sessionTimeoutMs = Number(rawTimeout);
    if (!Number.isInteger(sessionTimeoutMs) || sessionTimeoutMs <= 0) {
      throw new Error(`ZK_SESSION_TIMEOUT_MS must be a positive integer of milliseconds, got ${JSON.stringify(rawTimeout)}`);
    }
  }
  const auth = env.ZK_AUTH;
  if (auth !== undefined && auth !== '') parseAuth(auth, 'ZK_AUTH');
  return { connect, sessionTimeoutMs, ...(auth ? { auth } : {}) };
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
  return `${user}:${createHash('sha1').update(auth, 'utf8').digest('base64')}`;
}

/** One client and what rides on it. */
interface Session {
  readonly client: zookeeper.Client;
  readonly ready: Promise<Session>;
  connected: boolean;
  dead: boolean;
  /** Rejects every request still waiting on this session. */
  readonly failures: Set<(error: Error) => void>;
  /** Paths with a ZooKeeper watch set (or being set) through this session. */
  readonly armed: Set<string>;
  /** Wall-clock time of the last tick of `ticker`: a large gap means the process was paused. */
  lastTick: number;
  ticker: ReturnType<typeof setInterval> | undefined;
  /** Set while the library tries to get a lost connection back. */
  reconnectDeadline: ReturnType<typeof setTimeout> | undefined;
}

interface Watcher {
  active: boolean;
  readonly onChange: () => void;
}

type Done<T> = (error: unknown, value?: T) => void;

export class ZooKeeperStore implements NodeStore {
  readonly description: string;
  private readonly sessionTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly operationTimeoutMs: number;
  private readonly acls: zookeeper.ACL[];
  private current: Session | undefined;
  private closed = false;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly closing = new Set<Promise<void>>();

  private constructor(private readonly options: ZooKeeperStoreOptions) {
    this.description = `zookeeper ${options.connect}`;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    // Workers connect without credentials: they keep read access, only the orchestrator writes.
    this.acls = options.auth
      ? [new ACL(Permission.ALL, new Id('digest', digestId(options.auth))), new ACL(Permission.READ, new Id('world', 'anyone'))]
      : ACL.OPEN_ACL_UNSAFE;
  }

  /** Opens a session at once, so a wrong connect string fails at start-up rather than on first use. */
  static async connect(options: ZooKeeperStoreOptions): Promise<ZooKeeperStore> {
    if (options.auth) parseAuth(options.auth);
    const store = new ZooKeeperStore(options);
    try {
      await store.session();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** The client of the live session, if any: for diagnostics and fault-injection tests. */
  get currentClient(): zookeeper.Client | undefined {
    return this.current && !this.current.dead ? this.current.client : undefined;
  }

  async get(path: string): Promise<VersionedNode | undefined> {
    assertValidPath(path);
    return this.run(true, (session) => this.request(session, (done: Done<VersionedNode | undefined>) => readNode(session.client, path, done)));
  }

  async getMany(paths: readonly string[]): Promise<Array<VersionedNode | undefined>> {
    paths.forEach(assertValidPath);
    if (paths.length === 0) return [];
    // All reads go out at once; the server answers a session's requests in order, so this costs one round trip.
    return this.run(true, (session) =>
      this.request(session, (done: Done<Array<VersionedNode | undefined>>) => {
        const results = new Array<VersionedNode | undefined>(paths.length);
        let pending = paths.length;
        let failed = false;
        paths.forEach((path, index) =>
          readNode(session.client, path, (error, node) => {
            if (failed) return;
            if (error) {
              failed = true;
              done(error);
              return;
            }
            results[index] = node;
            if (--pending === 0) done(null, results);
          }),
        );
      }),
    );
  }

  async children(path: string): Promise<string[]> {
    assertValidPath(path);
    return this.run(true, (session) =>
      this.request(session, (done: Done<string[]>) =>
        session.client.getChildren(path, (error, children) => {
          if (error && codeOf(error) === Exception.NO_NODE) done(null, []);
          else if (error) done(error);
          else done(null, [...children].sort());
        }),
      ),
    );
  }

  async commit(ops: readonly WriteOp[]): Promise<void> {
    for (const op of ops) assertValidPath(op.path);
    if (ops.length === 0) return;
    // Never retried here: a multi that was sent may have been applied before the answer was lost.
    await this.run(false, (session) =>
      this.request(session, (done: Done<void>) => {
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
            results?.findIndex((result) => result.type === OP_ERROR && result.err !== undefined && result.err !== Exception.OK && result.err !== Exception.RUNTIME_INCONSISTENCY) ?? -1;
          const code = (failedAt >= 0 ? results?.[failedAt]?.err : undefined) ?? codeOf(error);
          done(toStoreError(error, code, failedAt >= 0 ? ops[failedAt]?.path : undefined));
        });
      }),
    );
  }

  async ensurePath(path: string): Promise<void> {
    assertValidPath(path);
    const segments = path.split('/').slice(1).filter(Boolean);
    if (segments.length === 0) return;
    const ancestry = segments.map((_, index) => `/${segments.slice(0, index + 1).join('/')}`);
    // Pipelined like getMany: the server applies one session's creates in order, so each finds its parent.
    await this.run(true, (session) =>
      this.request(session, (done: Done<void>) => {
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

  watch(path: string, onChange: () => void): () => void {
    assertValidPath(path);
    if (this.closed) throw new Error(`${this.description} is closed`);
    const watcher: Watcher = { active: true, onChange };
    let waiting = this.watchers.get(path);
    if (!waiting) this.watchers.set(path, (waiting = new Set()));
    waiting.add(watcher);
    this.arm(path);
    return () => {
      watcher.active = false;
      const set = this.watchers.get(path);
      set?.delete(watcher);
      if (set?.size === 0) this.watchers.delete(path);
    };
  }

  async ping(): Promise<void> {
    await this.run(true, (session) => this.request(session, (done: Done<unknown>) => session.client.exists('/', done)));
  }

  async close(): Promise<void> {
    this.closed = true;
    // Closing is not a change of any node: pending watches end silently.
    this.watchers.clear();
    if (this.current) this.discard(this.current, new Error(`${this.description} is closed`));
    await Promise.all([...this.closing]);
  }

  /**
   * Runs one operation on the live session. When the session turns out to be
   * unusable it is replaced, and reads (`retryable`) get one more attempt on
   * the new one; errors come out mapped to the port's error types.
   */
  private async run<T>(retryable: boolean, operation: (session: Session) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.session();
      try {
        return await operation(session);
      } catch (error) {
        const mapped = toStoreError(error);
        if (!(mapped instanceof StoreUnavailableError)) throw mapped;
        this.discard(session, mapped);
        if (!retryable || attempt >= 2 || this.closed) throw mapped;
      }
    }
  }

  /** Runs `start` with a deadline; a request that outlives it takes its session down with it. */
  private request<T>(session: Session, start: (done: Done<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (error: unknown, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.failures.delete(fail);
        if (error) reject(error);
        else resolve(value as T);
      };
      const fail = (error: Error): void => settle(error);
      session.failures.add(fail);
      // A half-open TCP connection (a NAT that forgot us while the container slept) answers nothing: bound the wait.
      const timer = setTimeout(
        () => this.discard(session, new StoreUnavailableError(`${this.description} did not answer within ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
      try {
        start(settle);
      } catch (error) {
        settle(error);
      }
    });
  }

  /** The live session, opening a new one when there is none or the current one cannot be trusted. */
  private session(): Promise<Session> {
    if (this.closed) return Promise.reject(new Error(`${this.description} is closed`));
    const current = this.current;
    if (current && !current.dead) {
      const negotiated = current.connected ? current.client.getSessionTimeout() : this.sessionTimeoutMs;
      if (current.client.connectionManager.state < 0) {
        this.discard(current, new StoreUnavailableError(`${this.description}: client closed`));
      } else if (current.connected && Date.now() - current.lastTick > negotiated / 2) {
        // The process was frozen (a Lambda container between invocations) long enough that the
        // server may have expired the session; any request on it would fail, so start afresh.
        this.discard(current, new StoreUnavailableError(`${this.description}: process paused, session presumed expired`));
      } else {
        return current.ready;
      }
    }
    const session = this.open();
    this.current = session;
    return session.ready;
  }

  private open(): Session {
    const client = zookeeper.createClient(this.options.connect, {
      sessionTimeout: this.sessionTimeoutMs,
      spinDelay: 250,
      retries: 0,
    });
    if (this.options.auth) client.addAuthInfo('digest', Buffer.from(this.options.auth, 'utf8'));
    let resolveReady!: (session: Session) => void;
    let rejectReady!: (error: Error) => void;
    const ready = new Promise<Session>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    // Callers always await `ready`; this only keeps a discarded, never-awaited session quiet.
    ready.catch(() => undefined);
    const session: Session = {
      client,
      ready,
      connected: false,
      dead: false,
      failures: new Set(),
      armed: new Set(),
      lastTick: Date.now(),
      ticker: undefined,
      reconnectDeadline: undefined,
    };
    const connectDeadline = setTimeout(
      () => this.discard(session, new StoreUnavailableError(`no ZooKeeper session with ${this.options.connect} within ${this.connectTimeoutMs} ms`)),
      this.connectTimeoutMs,
    );
    const failConnect = (error: Error): void => {
      clearTimeout(connectDeadline);
      rejectReady(error);
    };
    session.failures.add(failConnect);
    client.once('connected', () => {
      clearTimeout(connectDeadline);
      if (session.dead) return;
      session.failures.delete(failConnect);
      session.connected = true;
      session.lastTick = Date.now();
      const tickMs = Math.max(50, Math.min(1000, client.getSessionTimeout() / 10));
      session.ticker = setInterval(() => (session.lastTick = Date.now()), tickMs);
      session.ticker.unref();
      resolveReady(session);
    });
    // The library reconnects on its own, which keeps the session across a short blip; but a
    // handshake lost in a partition is never retried, so give up on it after the connect timeout.
    client.on('disconnected', () => {
      if (!session.connected || session.dead || session.reconnectDeadline) return;
      session.reconnectDeadline = setTimeout(
        () => this.discard(session, new StoreUnavailableError(`${this.description}: connection lost and not regained within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
      session.reconnectDeadline.unref();
    });
    client.on('connected', () => {
      clearTimeout(session.reconnectDeadline);
      session.reconnectDeadline = undefined;
    });
    client.on('expired', () => this.discard(session, new StoreUnavailableError(`${this.description}: session expired`)));
    client.on('authenticationFailed', () => this.discard(session, new Error(`${this.description}: authentication failed`)));
    client.connect();
    return session;
  }

  /** Retires a session: fails what waits on it, fires the watches it carried, closes its client. */
  private discard(session: Session, error: Error): void {
    if (session.dead) return;
    session.dead = true;
    if (this.current === session) this.current = undefined;
    clearInterval(session.ticker);
    clearTimeout(session.reconnectDeadline);
    for (const fail of [...session.failures]) fail(error);
    session.failures.clear();
    // Changes made while no watch was set cannot be known: tell watchers to re-read, as
    // ZooKeeper's own clients do with the Expired event.
    const armed = [...session.armed];
    session.armed.clear();
    for (const path of armed) this.notify(path);
    const closing = shutdown(session.client);
    this.closing.add(closing);
    void closing.then(() => this.closing.delete(closing));
  }

  /** Sets one ZooKeeper watch per path and session; every watcher of the path shares it. */
  private arm(path: string): void {
    const armOn = (session: Session): void => {
      if (session.dead || session.armed.has(path) || !this.watchers.has(path)) return;
      session.armed.add(path);
      // `exists` leaves a data watch on a node and a creation watch on a missing one: one round trip either way.
      this.request(session, (done: Done<unknown>) =>
        session.client.exists(
          path,
          () => {
            session.armed.delete(path);
            if (!session.dead) this.notify(path);
          },
          done,
        ),
      ).catch((error: unknown) => {
        const mapped = toStoreError(error);
        if (mapped instanceof StoreUnavailableError) this.discard(session, mapped);
        else {
          session.armed.delete(path);
          this.notify(path);
        }
      });
    };
    const live = this.current;
    // Armed synchronously when connected, so a commit issued right after `watch` is seen by the watch.
    if (live && live.connected && !live.dead && live.client.connectionManager.state >= 0) armOn(live);
    else this.session().then(armOn, () => this.notify(path));
  }

  private notify(path: string): void {
    const waiting = this.watchers.get(path);
    if (!waiting) return;
    this.watchers.delete(path);
    for (const watcher of waiting) {
      if (!watcher.active) continue;
      watcher.active = false;
      watcher.onChange();
    }
  }
}

function readNode(client: zookeeper.Client, path: string, done: Done<VersionedNode | undefined>): void {
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

/**
 * Ends a client's session and makes sure its socket and timers are gone: the
 * library has no forced close, and a close request sent into a dead connection
 * is never answered.
 */
function shutdown(client: zookeeper.Client): Promise<void> {
  const manager = client.connectionManager;
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      manager.removeListener('state', onState);
      if (manager.connectTimeoutHandler) clearTimeout(manager.connectTimeoutHandler);
      manager.socket?.destroy();
      resolve();
    };
    const onState = (state: number): void => {
      if (state === MANAGER_CLOSED) finish();
    };
    const timer = setTimeout(finish, CLOSE_GRACE_MS);
    manager.on('state', onState);
    // An expired or closed client has nothing to say to the server any more.
    if (manager.state === MANAGER_CLOSED || manager.state === MANAGER_EXPIRED || manager.state === MANAGER_AUTH_FAILED) finish();
    else if (manager.state !== MANAGER_CLOSING) client.close();
  });
}
