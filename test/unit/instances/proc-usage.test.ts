import { describe, expect, it } from 'vitest';
import { CpuSampler, type ProcStat } from '../../../lib/instances/proc-usage.js';

/** Processes whose CPU ticks (USER_HZ 100) and a clock the test moves. */
function fakeProc() {
  const processes = new Map<number, { cpuTicks: number; startTicks: number }>();
  let now = 1_000;
  const sleeps: number[] = [];
  const sampler = (minWindowMs = 200, maxWindowMs?: number, windowMs?: number) =>
    new CpuSampler({
      minWindowMs,
      ...(windowMs !== undefined ? { windowMs } : {}),
      ...(maxWindowMs !== undefined ? { maxWindowMs } : {}),
      now: () => now,
      readStat: (pid): ProcStat | undefined => {
        const p = processes.get(pid);
        return p && { state: 'R', ...p };
      },
      // Sleeping moves the clock, and the processes burn meanwhile at their scripted rate.
      sleep: async (ms) => {
        sleeps.push(ms);
        advance(ms);
      },
    });
  const rates = new Map<number, number>();
  const advance = (ms: number): void => {
    now += ms;
    for (const [pid, millicores] of rates) processes.get(pid)!.cpuTicks += (millicores / 1000) * (ms / 10);
  };
  const run = (pid: number, millicores: number, startTicks = 5): void => {
    processes.set(pid, { cpuTicks: 0, startTicks });
    rates.set(pid, millicores);
  };
  const setRate = (pid: number, millicores: number): void => void rates.set(pid, millicores);
  return { sampler, run, setRate, advance, sleeps };
}

describe('CPU rates from /proc readings', () => {
  it('samples a process seen for the first time over the minimum window', async () => {
    // Prepare
    const proc = fakeProc();
    proc.run(41, 500);
    const sampler = proc.sampler(200);

    // Act
    const rates = await sampler.millicores([{ key: 'a', pid: 41 }]);

    // Assess
    expect(rates).toEqual(new Map([['a', 500]]));
    expect(proc.sleeps).toEqual([200]);
  });

  it('measures since the previous call without waiting when that is at least the minimum window ago', async () => {
    // Prepare
    const proc = fakeProc();
    proc.run(41, 500);
    const sampler = proc.sampler(200);
    await sampler.millicores([{ key: 'a', pid: 41 }]);
    proc.sleeps.length = 0;

    // Act: the process spends 10 s at 100 millicores.
    proc.setRate(41, 100);
    proc.advance(10_000);
    const rates = await sampler.millicores([{ key: 'a', pid: 41 }]);

    // Assess
    expect(rates).toEqual(new Map([['a', 100]]));
    expect(proc.sleeps).toEqual([]);
  });

  it('waits once, for the newest baseline, when processes old and new are measured together', async () => {
    // Prepare
    const proc = fakeProc();
    proc.run(41, 300);
    const sampler = proc.sampler(200);
    await sampler.millicores([{ key: 'a', pid: 41 }]);
    proc.advance(150);
    proc.run(42, 700);
    proc.sleeps.length = 0;

    // Act
    const rates = await sampler.millicores([
      { key: 'a', pid: 41 },
      { key: 'b', pid: 42 },
    ]);

    // Assess
    expect(proc.sleeps).toEqual([200]);
    expect(rates.get('b')).toBe(700);
    expect(rates.get('a')).toBeGreaterThan(0);
  });

  it('does not carry a reading over to another process that took the pid, nor use one older than the maximum window', async () => {
    // Prepare
    const proc = fakeProc();
    proc.run(41, 1000);
    const sampler = proc.sampler(200, 60_000);
    await sampler.millicores([
      { key: 'a', pid: 41 },
      { key: 'b', pid: 41 },
    ]);

    // Act
    proc.run(41, 250, 99); // a new process, CPU ticks from 0 again
    const reused = await sampler.millicores([{ key: 'a', pid: 41 }]);
    proc.advance(120_000);
    proc.sleeps.length = 0;
    const stale = await sampler.millicores([{ key: 'a', pid: 41 }]);

    // Assess
    expect(reused.get('a')).toBe(250);
    expect(stale.get('a')).toBe(250);
    expect(proc.sleeps).toEqual([200]);
  });

  it('leaves out a process that is gone', async () => {
    // Prepare
    const proc = fakeProc();
    const sampler = proc.sampler(200);

    // Act
    const rates = await sampler.millicores([{ key: 'a', pid: 404 }]);

    // Assess
    expect(rates.size).toBe(0);
    expect(proc.sleeps).toEqual([]);
  });

  it('averages over the window, not since the previous call: one busy second among quiet ones is a fifth of it', async () => {
    // Prepare: a worker at 20 millicores, measured every second with a 5 s window.
    const proc = fakeProc();
    proc.run(41, 20);
    const sampler = proc.sampler(200, 60_000, 5000);
    const measure = async (): Promise<number | undefined> => {
      proc.advance(1000);
      return (await sampler.millicores([{ key: 'a', pid: 41 }])).get('a');
    };
    for (let second = 0; second < 10; second += 1) await measure();

    // Act: one second at 170 millicores (a garbage collection, a reload), then quiet again.
    proc.setRate(41, 170);
    const busy = await measure();
    proc.setRate(41, 20);
    const after = [];
    for (let second = 0; second < 6; second += 1) after.push(await measure());

    // Assess: (170 + 4 × 20) / 5 while the window holds the busy second, 20 once it has passed.
    expect(busy).toBe(50);
    expect(after.slice(0, 4)).toEqual([50, 50, 50, 50]);
    expect(after.slice(4)).toEqual([20, 20]);
  });

  it('measures since the first reading while the readings kept are younger than the window', async () => {
    // Prepare
    const proc = fakeProc();
    proc.run(41, 100);
    const sampler = proc.sampler(200, 60_000, 5000);
    await sampler.millicores([{ key: 'a', pid: 41 }]);

    // Act: 2 s at 400 millicores after the first reading (200 ms at 100).
    proc.setRate(41, 400);
    proc.advance(2000);
    const rates = await sampler.millicores([{ key: 'a', pid: 41 }]);

    // Assess: (0.2 s × 100 + 2 s × 400) / 2.2 s, and no wait.
    expect(rates.get('a')).toBe(Math.round((0.2 * 100 + 2 * 400) / 2.2));
    expect(proc.sleeps).toEqual([200]);
  });
});
