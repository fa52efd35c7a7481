/**
 * The embedded broker's durable inbox: every cm/notify and HeartBeat message
 * the embedded broker accepts is written to an SQLite file in the data
 * directory before the broker acknowledges it (PUBACK), and removed only once
 * the orchestrator has applied it to the store. A `kill -9` at any moment, or
 * a stop that ran out of time, leaves the rest on disk; the next start applies
 * it first, in order, before anything newer.
 *
 * Why an acknowledged message survives `kill -9` of the process: better-sqlite3
 * is synchronous, and a COMMIT in WAL mode has handed its frames to the kernel
 * with write(2) before it returns; the kernel's page cache outlives the
 * process, and the next open replays the WAL. `synchronous = NORMAL` skips the
 * fsync of each commit, so a power cut or a kernel crash may lose the last
 * commits (FULL would sync each one); that is outside what npm start promises.
 *
 * Writes are group commits: the messages that arrive in one turn of the event
 * loop (one socket read holds many) go into one transaction, and only then are
 * their acknowledgements released. A message the inbox could not write is
 * refused, never acknowledged.
 *
 * Applying is at least once: an entry applied just before a crash but not yet
 * removed is applied again at the next start. Every cm/notify operation is
 * idempotent (SPEC §2) and heartbeats never move backwards, so a replay is
 * safe; entries are removed in order, so a replay is always a prefix of what
 * is left, in the order it was received.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type Clock, systemClock } from '../clock.js';

export const INBOX_FILE_NAME = 'mqtt-inbox.db';

export interface InboxEntry {
  /** Position in the inbox: the order the broker received the messages in. */
  readonly seq: number;
  readonly topic: string;
  readonly payload: Buffer;
  /** Epoch ms the broker received it: a replayed heartbeat keeps the time it was sent. */
  readonly receivedAt: number;
}

interface Queued {
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt: number;
  readonly done: (error?: Error) => void;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    received_at INTEGER NOT NULL
  );
`;

export class Inbox {
  private readonly db: Database.Database;
  private readonly insertEntry: Database.Statement<[string, Buffer, number]>;
  private readonly insertGroup: Database.Transaction<(group: readonly Queued[]) => void>;
  private readonly selectOldest: Database.Statement<[number], InboxEntry>;
  private readonly deleteThrough: Database.Statement<[number]>;
  private readonly countEntries: Database.Statement<[], number>;
  private queued: Queued[] = [];
  private commitScheduled: NodeJS.Immediate | undefined;
  private listener: ((topics: ReadonlySet<string>) => void) | undefined;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly clock: Clock,
  ) {
    this.db = new Database(file, { timeout: 5000 });
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    } catch (error) {
      this.db.close();
      throw error;
    }
    const db = this.db;
    this.insertEntry = db.prepare('INSERT INTO inbox (topic, payload, received_at) VALUES (?, ?, ?)');
    this.insertGroup = db.transaction((group: readonly Queued[]) => {
      for (const message of group) this.insertEntry.run(message.topic, message.payload, message.receivedAt);
    });
    this.selectOldest = db.prepare<[number], InboxEntry>(
      'SELECT seq, topic, payload, received_at AS receivedAt FROM inbox ORDER BY seq LIMIT ?',
    );
    this.deleteThrough = db.prepare('DELETE FROM inbox WHERE seq <= ?');
    this.countEntries = db.prepare<[], number>('SELECT count(*) FROM inbox').pluck();
  }

  /** Opens (creating when needed) `<dataDir>/mqtt-inbox.db`. */
  static open(dataDir: string, clock: Clock = systemClock): Inbox {
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    return new Inbox(join(dir, INBOX_FILE_NAME), clock);
  }

  /**
   * Writes the message with the others of this turn of the event loop, then
   * calls `done`: without an error once it is on disk, with the error if it
   * could not be written (the broker then refuses the message).
   */
  append(topic: string, payload: Buffer, done: (error?: Error) => void): void {
    if (this.closed) {
      done(new Error('the MQTT inbox is closed'));
      return;
    }
    this.queued.push({ topic, payload, receivedAt: this.clock(), done });
    this.commitScheduled ??= setImmediate(() => this.commitQueued());
  }

  /** Called after each group is on disk, with the topics it held (one listener: the consumer). */
  onAppended(listener: (topics: ReadonlySet<string>) => void): void {
    this.listener = listener;
  }

  /** The oldest `limit` entries, in the order they were received. */
  oldest(limit: number): InboxEntry[] {
    return this.selectOldest.all(limit);
  }

  /** Removes every entry up to and including `seq`: they have been applied. */
  removeThrough(seq: number): void {
    this.deleteThrough.run(seq);
  }

  /** Entries on disk. */
  get size(): number {
    return this.countEntries.get() ?? 0;
  }

  /** Writes what is still queued, then closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearImmediate(this.commitScheduled);
    this.commitQueued();
    this.db.close();
  }

  private commitQueued(): void {
    this.commitScheduled = undefined;
    const group = this.queued;
    this.queued = [];
    if (group.length === 0) return;
    let failure: Error | undefined;
    try {
      this.insertGroup(group);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    for (const message of group) message.done(failure);
    if (!failure) this.listener?.(new Set(group.map((message) => message.topic)));
  }
}

/* ------------------------------------------------------------ consumer */

export interface InboxConsumerOptions {
  readonly inbox: Inbox;
  /**
   * Applies entries in order and resolves with those it could not apply yet (a
   * store failure); only those are tried again, and the inbox keeps them
   * (and everything after them) meanwhile. A rejection counts as all of them.
   */
  readonly apply: (entries: readonly InboxEntry[]) => Promise<readonly InboxEntry[]>;
  /** Entries read from disk and applied at once: the backlog stays on disk, not in memory. Default 100. */
  readonly pageSize?: number;
  /**
   * How long a newly written entry of this topic may wait, when the consumer
   * is idle, for others to share its store writes: heartbeats from many
   * workers become one write per instance. Default 0 (at once).
   */
  readonly gatherMs?: (topic: string) => number;
  /** Pause before the given retry of entries not applied. Default 250 ms doubling, at most 5 s. */
  readonly retryDelayMs?: (attempt: number) => number;
  /** Entries not applied, before the pause of the given attempt. */
  readonly onRetry?: (left: readonly InboxEntry[], attempt: number, delayMs: number) => void;
  /** `apply` threw (its entries are retried), or the inbox file failed (the consumer pauses and goes on). */
  readonly onError?: (error: unknown) => void;
}

export interface DrainResult {
  /** Entries applied and removed since the drain began. */
  readonly applied: number;
  /** Entries left on disk for the next start. */
  readonly left: number;
}

const defaultRetryDelayMs = (attempt: number): number => Math.min(250 * 2 ** (attempt - 1), 5000);

/**
 * Applies the inbox page by page, in order, removing a page once every entry
 * of it is applied. Idle, it waits for the inbox to say something was written.
 */
export class InboxConsumer {
  private readonly pageSize: number;
  private readonly running: Promise<void>;
  private wakeUp: (() => void) | undefined;
  private gatherTimer: NodeJS.Timeout | undefined;
  private pauseTimer: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** Stop once the inbox is empty. */
  private draining = false;
  /** Stop after the page in progress. */
  private expired = false;
  private appliedCount = 0;

  constructor(private readonly options: InboxConsumerOptions) {
    this.pageSize = options.pageSize ?? 100;
    options.inbox.onAppended((topics) => this.appended(topics));
    this.running = this.run();
  }

  /**
   * Applies what is left until the inbox is empty or `timeoutMs` has passed,
   * whichever comes first (a page in progress is finished), then stops. Call
   * it once nothing is written any more.
   */
  async drain(timeoutMs: number): Promise<DrainResult> {
    const before = this.appliedCount;
    this.draining = true;
    this.deadline ??= setTimeout(() => this.expire(), timeoutMs);
    this.wake();
    await this.running;
    clearTimeout(this.deadline);
    return { applied: this.appliedCount - before, left: this.options.inbox.size };
  }

  /** Stops after the page in progress; what is left stays on disk. */
  async stop(): Promise<void> {
    this.expire();
    await this.running;
  }

  private async run(): Promise<void> {
    const { inbox } = this.options;
    while (!this.expired) {
      try {
        const page = inbox.oldest(this.pageSize);
        if (page.length === 0) {
          if (this.draining) return;
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
          continue;
        }
        if (!(await this.applyAll(page))) return;
        inbox.removeThrough(page.at(-1)!.seq);
        this.appliedCount += page.length;
      } catch (error) {
        // The file itself failed: whatever was not removed is applied again later.
        this.options.onError?.(error);
        await this.pause((this.options.retryDelayMs ?? defaultRetryDelayMs)(1));
      }
    }
  }

  /** True once every entry is applied; false if the consumer expired first. */
  private async applyAll(page: readonly InboxEntry[]): Promise<boolean> {
    let left = page;
    for (let attempt = 1; ; attempt++) {
      left = await this.options.apply(left).catch((error: unknown) => {
        this.options.onError?.(error);
        return left;
      });
      if (left.length === 0) return true;
      if (this.expired) return false;
      const delayMs = (this.options.retryDelayMs ?? defaultRetryDelayMs)(attempt);
      this.options.onRetry?.(left, attempt, delayMs);
      await this.pause(delayMs);
      if (this.expired) return false;
    }
  }

  private appended(topics: ReadonlySet<string>): void {
    if (!this.wakeUp) return; // Busy: the next page reads them.
    const waitMs = Math.min(...[...topics].map((topic) => this.options.gatherMs?.(topic) ?? 0));
    if (waitMs <= 0) this.wake();
    else this.gatherTimer ??= setTimeout(() => this.wake(), waitMs);
  }

  private wake(): void {
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.pauseTimer = {
        timer: setTimeout(() => {
          this.pauseTimer = undefined;
          resolve();
        }, ms),
        resolve,
      };
    });
  }

  private expire(): void {
    this.expired = true;
    this.wake();
    if (this.pauseTimer) {
      clearTimeout(this.pauseTimer.timer);
      this.pauseTimer.resolve();
      this.pauseTimer = undefined;
    }
  }
}
