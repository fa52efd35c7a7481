/**
 * The two schedulers of npm start: the reconcile loop (never overlapping
 * itself) and the heartbeat batcher (few, non-overlapping store writes).
 * Both run on timers only, so the clock is fake: every interleaving below is
 * exact, whatever the load on the machine.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher } from '../../../lib/local/batcher.js';
import { startLoop } from '../../../lib/local/reconcile-loop.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A pause of the task under test, on the fake clock. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Awaits what waits for a run or flush in progress, letting the fake clock run until no timer is left. */
async function settle<T>(pending: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return pending;
}

/** A task that takes `ms` and records the most runs ever in flight at once. */
function slowTask(ms: number) {
  const stats = { running: 0, maxRunning: 0, runs: 0 };
  const task = async () => {
    stats.running++;
    stats.runs++;
    stats.maxRunning = Math.max(stats.maxRunning, stats.running);
    await sleep(ms);
    stats.running--;
  };
  return { task, stats };
}

describe('reconcile loop', () => {
  it('never runs twice at once, even when a run outlasts the interval and kicks pile up', async () => {
    const { task, stats } = slowTask(60);
    const loop = startLoop(task, 5, () => undefined);

    for (let i = 0; i < 10; i++) {
      loop.kick();
      await vi.advanceTimersByTimeAsync(7);
    }
    await settle(loop.stop());

    expect(stats.runs).toBeGreaterThanOrEqual(2);
    expect(stats.maxRunning).toBe(1);
  });

  it('runs once more right after the current run when kicked during it', async () => {
    const { task, stats } = slowTask(50);
    const loop = startLoop(task, 60_000, () => undefined);
    await vi.advanceTimersByTimeAsync(10);
    expect(stats.running).toBe(1); // the first run is in progress

    loop.kick();
    loop.kick();
    await vi.advanceTimersByTimeAsync(200);
    await settle(loop.stop());

    expect(stats.runs).toBe(2);
  });

  it('waits for the run in progress on stop and starts none after', async () => {
    const { task, stats } = slowTask(80);
    const loop = startLoop(task, 1, () => undefined);
    await vi.advanceTimersByTimeAsync(10);
    expect(stats.running).toBe(1);

    await settle(loop.stop());
    const runsAtStop = stats.runs;
    loop.kick();
    await vi.advanceTimersByTimeAsync(50);

    expect(stats.running).toBe(0);
    expect(stats.runs).toBe(runsAtStop);
  });

  it('reports a failed run and keeps going', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const loop = startLoop(
      async () => {
        runs++;
        if (runs === 1) throw new Error('store down');
      },
      5,
      (error) => errors.push(error),
    );

    await vi.advanceTimersByTimeAsync(20);
    expect(runs).toBeGreaterThanOrEqual(3);
    await settle(loop.stop());

    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('store down');
  });
});

describe('heartbeat batcher', () => {
  it('hands over everything added within one period as one batch', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>({
      flushEveryMs: 30,
      maxBatch: 100,
      flush: async (items) => void batches.push(items),
      onError: () => undefined,
    });

    for (let i = 0; i < 5; i++) batcher.add(i);
    await vi.advanceTimersByTimeAsync(29);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);

    expect(batches).toEqual([[0, 1, 2, 3, 4]]);
    await batcher.close();
  });

  it('flushes at once when maxBatch items are waiting', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>({
      flushEveryMs: 60_000,
      maxBatch: 3,
      flush: async (items) => void batches.push(items),
      onError: () => undefined,
    });

    for (let i = 0; i < 3; i++) batcher.add(i);
    await vi.advanceTimersByTimeAsync(0); // no time passes

    expect(batches).toEqual([[0, 1, 2]]);
    await batcher.close();
  });

  it('never runs two flushes at once; items added meanwhile wait for the next batch', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const batches: number[][] = [];
    const batcher = new Batcher<number>({
      flushEveryMs: 5,
      maxBatch: 2,
      flush: async (items) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(30);
        batches.push(items);
        inFlight--;
      },
      onError: () => undefined,
    });

    for (let i = 0; i < 9; i++) {
      batcher.add(i);
      await vi.advanceTimersByTimeAsync(3);
    }
    await settle(batcher.close());

    expect(maxInFlight).toBe(1);
    expect(batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('reports a failed flush with its items and drops them', async () => {
    const failures: number[][] = [];
    const batcher = new Batcher<number>({
      flushEveryMs: 5,
      maxBatch: 100,
      flush: async () => {
        throw new Error('store down');
      },
      onError: (_error, items) => void failures.push([...items]),
    });

    batcher.add(1);
    batcher.add(2);
    await batcher.close();

    expect(failures).toEqual([[1, 2]]);
    expect(batcher.size).toBe(0);
  });

  it('flushes what is waiting on close and accepts nothing after', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>({
      flushEveryMs: 60_000,
      maxBatch: 100,
      flush: async (items) => void batches.push(items),
      onError: () => undefined,
    });

    batcher.add(1);
    await batcher.close();
    batcher.add(2);

    expect(batches).toEqual([[1]]);
    expect(batcher.size).toBe(0);
  });
});
