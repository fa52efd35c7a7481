/**
 * The ZooKeeper store's sessions: one client per live session, replaced whenever
 * the session is lost, expired, timed out or the process was paused for longer
 * than the session can survive (a Lambda container between invocations).
 */
import { systemClock } from '../clock.js';
import zookeeper from 'node-zookeeper-client';
import { StoreUnavailableError } from './port.js';

/** How long `shutdown` waits for the server to acknowledge the end of a session before dropping the socket. */
const CLOSE_GRACE_MS = 1000;

// Terminal ConnectionManager states of the library (internal, see the typing).
const MANAGER_CLOSING = -1;
const MANAGER_CLOSED = -2;
const MANAGER_EXPIRED = -3;
const MANAGER_AUTH_FAILED = -4;

/** One client and what rides on it. */
export interface Session {
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

export type Done<T> = (error: unknown, value?: T) => void;

export interface SessionSettings {
  /** Connect string: "host:port[,host:port...][/chroot]". */
  readonly connect: string;
  /** "user:password" for the digest scheme, if any. */
  readonly auth: string | undefined;
  readonly sessionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly operationTimeoutMs: number;
  /** Names the store in error messages. */
  readonly description: string;
  /** The error `session` refuses with once `close` was called. */
  readonly closedError: () => Error;
  /** Maps a library error to the port's errors: StoreUnavailableError means the session cannot be trusted. */
  readonly toStoreError: (error: unknown) => Error;
  /** Called with each path whose watch a retired session carried. */
  readonly onWatchLost: (path: string) => void;
}

/** Opens, checks, replaces and retires the sessions of one store; at most one is current. */
export class ZooKeeperSessions {
  private current: Session | undefined;
  private closed = false;
  /** Clients being shut down, so `close` can wait for them. */
  private readonly shutdowns = new Set<Promise<void>>();

  constructor(private readonly settings: SessionSettings) {}

  /** The client of the live session, if any. */
  get currentClient(): zookeeper.Client | undefined {
    return this.current && !this.current.dead ? this.current.client : undefined;
  }

  /** The current session when a request can go out on it right now, without waiting. */
  get connectedSession(): Session | undefined {
    const live = this.current;
    return live?.connected && !live.dead && live.client.connectionManager.state >= 0 ? live : undefined;
  }

  /** The live session, opening a new one when there is none or the current one cannot be trusted. */
  session(): Promise<Session> {
    if (this.closed) return Promise.reject(this.settings.closedError());
    const current = this.current;
    if (current && !current.dead) {
      const negotiated = current.connected ? current.client.getSessionTimeout() : this.settings.sessionTimeoutMs;
      if (current.client.connectionManager.state < 0) {
        this.discard(current, new StoreUnavailableError(`${this.settings.description}: client closed`));
      } else if (current.connected && systemClock() - current.lastTick > negotiated / 2) {
        // The process was frozen (a Lambda container between invocations) long enough that the
        // server may have expired the session; any request on it would fail, so start afresh.
        this.discard(
          current,
          new StoreUnavailableError(`${this.settings.description}: process paused, session presumed expired`),
        );
      } else {
        return current.ready;
      }
    }
    const session = this.open();
    this.current = session;
    return session.ready;
  }

  /**
   * Runs one operation on the live session. When the session turns out to be
   * unusable it is replaced, and reads (`retryable`) get one more attempt on
   * the new one; errors come out mapped to the port's error types.
   */
  async run<T>(retryable: boolean, operation: (session: Session) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.session();
      try {
        return await operation(session);
      } catch (error) {
        const mapped = this.settings.toStoreError(error);
        if (!(mapped instanceof StoreUnavailableError)) throw mapped;
        this.discard(session, mapped);
        if (!retryable || attempt >= 2 || this.closed) throw mapped;
      }
    }
  }

  /** Runs `start` with a deadline; a request that outlives it takes its session down with it. */
  request<T>(session: Session, start: (done: Done<T>) => void): Promise<T> {
    const { description, operationTimeoutMs } = this.settings;
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
        () =>
          this.discard(
            session,
            new StoreUnavailableError(`${description} did not answer within ${operationTimeoutMs} ms`),
          ),
        operationTimeoutMs,
      );
      try {
        start(settle);
      } catch (error) {
        settle(error);
      }
    });
  }

  /** Retires a session: fails what waits on it, fires the watches it carried, closes its client. */
  discard(session: Session, error: Error): void {
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
    for (const path of armed) this.settings.onWatchLost(path);
    const closing = shutdown(session.client);
    this.shutdowns.add(closing);
    void closing.then(() => this.shutdowns.delete(closing));
  }

  /** Retires the current session, refuses new ones, and waits until every client is shut down. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.current) this.discard(this.current, this.settings.closedError());
    await Promise.all([...this.shutdowns]);
  }

  private open(): Session {
    const { connect, auth, sessionTimeoutMs, connectTimeoutMs, description } = this.settings;
    const client = zookeeper.createClient(connect, {
      sessionTimeout: sessionTimeoutMs,
      spinDelay: 250,
      retries: 0,
    });
    if (auth) client.addAuthInfo('digest', Buffer.from(auth, 'utf8'));
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
      lastTick: systemClock(),
      ticker: undefined,
      reconnectDeadline: undefined,
    };
    const connectDeadline = setTimeout(
      () =>
        this.discard(
          session,
          new StoreUnavailableError(`no ZooKeeper session with ${connect} within ${connectTimeoutMs} ms`),
        ),
      connectTimeoutMs,
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
      session.lastTick = systemClock();
      const tickMs = Math.max(50, Math.min(1000, client.getSessionTimeout() / 10));
      session.ticker = setInterval(() => (session.lastTick = systemClock()), tickMs);
      session.ticker.unref();
      resolveReady(session);
    });
    // The library reconnects on its own, which keeps the session across a short blip; but a
    // handshake lost in a partition is never retried, so give up on it after the connect timeout.
    client.on('disconnected', () => {
      if (!session.connected || session.dead || session.reconnectDeadline) return;
      session.reconnectDeadline = setTimeout(
        () =>
          this.discard(
            session,
            new StoreUnavailableError(`${description}: connection lost and not regained within ${connectTimeoutMs} ms`),
          ),
        connectTimeoutMs,
      );
      session.reconnectDeadline.unref();
    });
    client.on('connected', () => {
      clearTimeout(session.reconnectDeadline);
      session.reconnectDeadline = undefined;
    });
    client.on('expired', () => this.discard(session, new StoreUnavailableError(`${description}: session expired`)));
    client.on('authenticationFailed', () => this.discard(session, new Error(`${description}: authentication failed`)));
    client.connect();
    return session;
  }
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
    if (manager.state === MANAGER_CLOSED || manager.state === MANAGER_EXPIRED || manager.state === MANAGER_AUTH_FAILED)
      finish();
    else if (manager.state !== MANAGER_CLOSING) client.close();
  });
}
