/**
 * Usage of local processes from Linux /proc: CPU time from `/proc/<pid>/stat`
 * (utime + stime), resident memory from `/proc/<pid>/status` (VmRSS). Elsewhere nothing is
 * readable and callers report no usage.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const PROC_AVAILABLE = existsSync('/proc/self/stat');
/** USER_HZ: 100 on every mainstream Linux architecture; not readable without spawning getconf. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  readonly state: string;
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
  /** Start time in clock ticks since boot: with the pid, it names one process. */
  readonly startTicks: number;
}

/** `/proc/<pid>/stat`, undefined when the process or /proc is absent. */
export function readProcStat(pid: number): ProcStat | undefined {
  if (!PROC_AVAILABLE) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    state: fields[0] ?? '?',
    cpuTicks: Number(fields[11]) + Number(fields[12]),
    startTicks: Number(fields[19]),
  };
}

/**
 * The process whose environment holds `entry` (`NAME=value`) exactly, with its start time; undefined when none
 * does, or /proc is absent. Reads every process's environment this user may read: for rare recoveries only.
 */
export function findProcessByEnvironment(entry: string): { pid: number; startTicks: number } | undefined {
  if (!PROC_AVAILABLE) return undefined;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let environment: string;
    try {
      environment = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue; // gone, or another user's
    }
    if (!environment.split('\0').includes(entry)) continue;
    const stat = readProcStat(pid);
    if (stat && stat.state !== 'Z' && stat.state !== 'X') return { pid, startTicks: stat.startTicks };
  }
  return undefined;
}

/** VmRSS of `/proc/<pid>/status` in bytes; undefined when unreadable (or a zombie, which has none). */
export function readRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface CpuSamplerOptions {
  /** Shortest window a rate is measured over; a process without an earlier reading is read twice this far apart. */
  readonly minWindowMs: number;
  /**
   * The span a rate is averaged over once readings reach that far back (default 5 s), whatever the
   * time between calls: one busy second (a garbage collection, a reload) is a fifth of a rate, not
   * the whole of it. The metrics API averages a pod's CPU the same way, over its `window`.
   */
  readonly windowMs?: number;
  /** An earlier reading older than this is not used: the rate would be a stale average. Default 60 s. */
  readonly maxWindowMs?: number;
  readonly readStat?: (pid: number) => ProcStat | undefined;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

interface Reading {
  readonly pid: number;
  readonly startTicks: number;
  readonly cpuTicks: number;
  readonly at: number;
}

export const DEFAULT_CPU_WINDOW_MS = 5000;

/**
 * CPU rates as millicores: the CPU time a process used between two readings over the time
 * between them. Each call keeps its readings, so the next call measures over the last
 * `windowMs` (or since the oldest reading kept, when younger) without waiting; a process seen
 * for the first time (or last seen too long ago) is read twice `minWindowMs` apart, and one
 * call waits at most once. Resolution is 1000 / (USER_HZ × window s) millicores: 50 over
 * 200 ms, 2 over 5 s.
 */
export class CpuSampler {
  /** Per key, oldest first: the newest reading at least `windowMs` old, then every younger one. */
  private readonly readings = new Map<string, Reading[]>();
  private readonly minWindowMs: number;
  private readonly windowMs: number;
  private readonly maxWindowMs: number;
  private readonly readStat: (pid: number) => ProcStat | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: CpuSamplerOptions) {
    this.minWindowMs = options.minWindowMs;
    this.windowMs = options.windowMs ?? DEFAULT_CPU_WINDOW_MS;
    this.maxWindowMs = options.maxWindowMs ?? 60_000;
    this.readStat = options.readStat ?? readProcStat;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => sleep(ms));
  }

  /** Millicores per key; a process that vanished or was replaced (new start time) during the call is left out. */
  async millicores(
    processes: ReadonlyArray<{ readonly key: string; readonly pid: number }>,
  ): Promise<Map<string, number>> {
    const startedAt = this.now();
    const baselines = new Map<string, Reading>();
    for (const { key, pid } of processes) {
      const stat = this.readStat(pid);
      if (!stat) continue;
      // Readings of this very process, recent enough to average over.
      const kept = (this.readings.get(key) ?? []).filter(
        (reading) =>
          reading.pid === pid && reading.startTicks === stat.startTicks && startedAt - reading.at <= this.maxWindowMs,
      );
      const now: Reading = { pid, startTicks: stat.startTicks, cpuTicks: stat.cpuTicks, at: startedAt };
      // None kept: this reading starts the series, and is the baseline after the minimum window.
      const series = kept.length > 0 ? kept : [now];
      this.readings.set(key, series);
      baselines.set(key, series.findLast((reading) => startedAt - reading.at >= this.windowMs) ?? series[0]!);
    }
    const wait = Math.max(0, ...[...baselines.values()].map((reading) => reading.at + this.minWindowMs - startedAt));
    if (wait > 0) await this.sleep(wait);

    const at = this.now();
    const rates = new Map<string, number>();
    for (const [key, baseline] of baselines) {
      const stat = this.readStat(baseline.pid);
      if (!stat || stat.startTicks !== baseline.startTicks || at <= baseline.at) {
        this.readings.delete(key);
        continue;
      }
      const cpuSeconds = (stat.cpuTicks - baseline.cpuTicks) / CLOCK_TICKS_PER_SECOND;
      rates.set(key, Math.max(0, Math.round((cpuSeconds / ((at - baseline.at) / 1000)) * 1000)));
      this.keep(key, { pid: baseline.pid, startTicks: stat.startTicks, cpuTicks: stat.cpuTicks, at });
    }
    return rates;
  }

  /** Forgets the readings of every key not in `keys` (pods that are gone). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.readings.keys()) if (!keys.has(key)) this.readings.delete(key);
  }

  /** Adds a reading, dropping those the next window no longer reaches: memory stays one window's worth per key. */
  private keep(key: string, reading: Reading): void {
    const series = [...(this.readings.get(key) ?? []), reading];
    const firstNeeded = series.findLastIndex((earlier) => reading.at - earlier.at >= this.windowMs);
    this.readings.set(key, series.slice(Math.max(0, firstNeeded)));
  }
}
