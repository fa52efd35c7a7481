/**
 * A synthetic cost for the reference worker: CPU time burnt in proportion to the resources it
 * serves (WORKER_CPU_MS_PER_RESOURCE), so elastic scaling can be watched on a laptop.
 *
 * The burn runs on a worker thread, never on the main thread: heartbeats and the store's
 * watch keep their timers however busy the worker is. Busy is not dead.
 * The thread works in slices of SLICE_MS: a busy spin for its share of the slice, then a
 * sleep for the rest. The rate lives in shared memory; the main thread writes it and wakes
 * the thread, so a change applies from the next slice. One thread burns at most one core.
 */
import { Worker } from 'node:worker_threads';

const SLICE_MS = 100;
/** One thread's worth: a full core. */
export const MAX_BURN_MS_PER_SECOND = 1000;
const STOP = -1;

/** Plain JavaScript, evaluated in the thread (no loader needed). control[0]: µs of CPU per second, or STOP. */
const THREAD_SOURCE = `
const { workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
for (;;) {
  const rate = Atomics.load(control, 0);
  if (rate === ${STOP}) break;
  if (rate <= 0) {
    Atomics.wait(control, 0, rate);
    continue;
  }
  const busy = Math.min(${SLICE_MS}, (rate / 1e6) * ${SLICE_MS});
  const start = performance.now();
  while (performance.now() - start < busy) {}
  if (busy < ${SLICE_MS}) Atomics.wait(control, 0, rate, ${SLICE_MS} - busy);
}
`;

export class CpuBurner {
  private readonly control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  private readonly thread: Worker;
  private readonly exited: Promise<void>;
  private rate = 0;

  constructor(onError: (error: Error) => void = () => undefined) {
    // No execArgv: the thread needs none of the parent's loaders.
    this.thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { control: this.control.buffer }, execArgv: [] });
    this.thread.on('error', onError);
    this.exited = new Promise((resolve) => this.thread.once('exit', () => resolve()));
    // Never what keeps a process alive.
    this.thread.unref();
  }

  /** CPU milliseconds to burn per second of wall time, clamped to [0, MAX_BURN_MS_PER_SECOND]. */
  set(msPerSecond: number): void {
    this.rate = Math.min(MAX_BURN_MS_PER_SECOND, Math.max(0, msPerSecond));
    this.write(Math.round(this.rate * 1000));
  }

  msPerSecond(): number {
    return this.rate;
  }

  /** Ends the thread (within one slice) and resolves once it has exited; idempotent. */
  async stop(): Promise<void> {
    this.rate = 0;
    this.write(STOP);
    await this.exited;
  }

  private write(value: number): void {
    if (Atomics.load(this.control, 0) === STOP) return;
    Atomics.store(this.control, 0, value);
    Atomics.notify(this.control, 0);
  }
}
