/**
 * Collects items and hands them on in batches: every `flushEveryMs`, or at
 * once when `maxBatch` items are waiting. Flushes never overlap, so a slow
 * store slows the batches down instead of piling up writes. Heartbeats are
 * the use: a hundred workers beating every few seconds become one coalesced
 * write per instance per flush.
 */
export interface BatcherOptions<T> {
  readonly flushEveryMs: number;
  readonly maxBatch: number;
  readonly flush: (items: T[]) => Promise<void>;
  /** A failed flush is reported and its items dropped: heartbeats are only worth anything fresh. */
  readonly onError: (error: unknown, items: readonly T[]) => void;
}

export class Batcher<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: BatcherOptions<T>) {}

  add(item: T): void {
    if (this.closed) return;
    this.pending.push(item);
    if (this.pending.length >= this.options.maxBatch) void this.flushNow();
    else this.timer ??= setTimeout(() => void this.flushNow(), this.options.flushEveryMs);
  }

  /** Items waiting for the next flush. */
  get size(): number {
    return this.pending.length;
  }

  /** Flushes what is waiting, after any flush in progress. */
  async flushNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.flushing = this.options
      .flush(items)
      .catch((error: unknown) => this.options.onError(error, items))
      .finally(() => {
        this.flushing = undefined;
        // Items that arrived during the flush get their own timer.
        if (this.pending.length > 0 && !this.closed)
          this.timer ??= setTimeout(() => void this.flushNow(), this.options.flushEveryMs);
      });
    await this.flushing;
  }

  /** Stops accepting items and flushes the rest. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushNow();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
