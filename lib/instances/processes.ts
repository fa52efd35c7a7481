/**
 * InstanceRuntime of local child processes, for running without a cluster.
 *
 * All state lives in files (`<stateDir>/pods/<name>.json`), never only in memory: the same
 * pods are seen by one long-running process (`npm start`) and by separate short invocations
 * (`sls invoke local -f reconcile`, a fresh process each), and whichever process looks next
 * finishes a deletion another one began.
 */
import { systemClock, type Clock } from '../clock.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KindConfig } from '../config/kinds.js';
import {
  InstanceRuntimeError,
  PodLimitError,
  type InstanceRuntime,
  type PodInfo,
  type PodLimit,
  type PodSpec,
  type PodUsage,
} from './port.js';
import { CpuSampler, findProcessByEnvironment, PROC_AVAILABLE, readProcStat, readRssBytes } from './proc-usage.js';
import { PodStates, type ProcessPodState } from './pod-states.js';
import { percentOf } from './quantity.js';

export interface ProcessRuntimeOptions {
  /** The worker executable; each instance is one child process of it. */
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the inherited environment; INSTANCE_ID, RESOURCE and POD_NAME are set per pod. */
  readonly env?: Readonly<Record<string, string>>;
  readonly stateDir: string;
  /** Default `<stateDir>/logs`; one `<name>.log` per pod. */
  readonly logDir?: string;
  /** SIGTERM, then SIGKILL after this long. Default 5000. */
  readonly gracePeriodMs?: number;
  /** Shortest CPU window of `usage()`: a pod it has not measured before is sampled this long. Default 200. */
  readonly usageSampleMs?: number;
  /** The span `usage()` averages CPU over once a pod has been measured that long. Default 5000. */
  readonly usageWindowMs?: number;
  /** What each worker counts as requested, as a pod's container requests: the base of the usage percentages. */
  readonly requests?: { readonly cpuMillis?: number; readonly memoryBytes?: number };
  /**
   * Whether `close()` stops the children this runtime started (default true, for a clean
   * `npm start` shutdown). A short invocation that leaves its pods running sets false.
   */
  readonly stopOnClose?: boolean;
  /**
   * Most worker processes running at once, every kind together (default 16): a create past it is
   * refused with PodLimitError. One host has a few cores, not a cluster's: 100 workers per kind
   * pushed a 2-core machine's load average to 67.
   */
  readonly maxProcesses?: number;
  /** Pod start and deletion times (default the system clock): tests age pods without waiting. */
  readonly clock?: Clock;
}

export const DEFAULT_MAX_PROCESSES = 16;
/** The variable that sets `maxProcesses` (lib/local/process-runtime-config.ts), named in refusals. */
export const MAX_PROCESSES_SETTING = 'LOCAL_MAX_PROCESSES';

export type { ProcessPodState } from './pod-states.js';

/** Set in every worker's environment to its state file: how a worker whose pid was never written is found. */
export const POD_STATE_VARIABLE = 'ORCH_POD_STATE';

/** Signals the pod's process group (the worker and anything it spawned); a vanished group is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  // 0 is a pod still being started; kill(-0) would signal this process's own group.
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export class ProcessRuntime implements InstanceRuntime {
  readonly description: string;
  readonly podLimit: PodLimit;
  private readonly options: ProcessRuntimeOptions;
  private readonly clock: Clock;
  /** Creates run one at a time, so two of them never both take the last free place. */
  private creating: Promise<unknown> = Promise.resolve();
  private readonly states: PodStates;
  private readonly logDir: string;
  private readonly gracePeriodMs: number;
  private readonly cpu: CpuSampler;
  /** Children started by this runtime: the ones `stopAll` stops. */
  private readonly children = new Map<string, ChildProcess>();

  constructor(options: ProcessRuntimeOptions) {
    this.options = options;
    this.states = new PodStates(join(options.stateDir, 'pods'));
    this.logDir = options.logDir ?? join(options.stateDir, 'logs');
    this.gracePeriodMs = options.gracePeriodMs ?? 5000;
    this.cpu = new CpuSampler({
      minWindowMs: options.usageSampleMs ?? 200,
      ...(options.usageWindowMs !== undefined ? { windowMs: options.usageWindowMs } : {}),
    });
    this.clock = options.clock ?? systemClock;
    this.podLimit = { max: options.maxProcesses ?? DEFAULT_MAX_PROCESSES, setting: MAX_PROCESSES_SETTING };
    this.description = `local processes of ${[options.command, ...options.args].join(' ')} (state in ${options.stateDir})`;
  }

  create(spec: PodSpec): Promise<'created' | 'exists'> {
    const created = this.creating.then(() => this.createWithinLimit(spec));
    this.creating = created.catch(() => undefined);
    return created;
  }

  /**
   * The name is reserved first (a state file without a pid, naming this process as its creator),
   * then the worker is spawned, then its pid is written. A creator killed between the spawn and
   * the write leaves a reservation and a running worker: the next reader finds that worker by
   * its environment and adopts it, or drops the reservation when none started (`settle`).
   */
  private async createWithinLimit(spec: PodSpec): Promise<'created' | 'exists'> {
    if (existsSync(this.states.path(spec.name))) return 'exists';
    // Running workers of every kind, and those being started; one being deleted leaves its place.
    const running = (await this.readAll()).filter((state) => state.deletedAt === undefined && this.isLive(state));
    if (running.length >= this.podLimit.max) throw new PodLimitError(this.podLimit, running.length, spec.name);
    await mkdir(this.logDir, { recursive: true });

    const selfStartTicks = readProcStat(process.pid)?.startTicks;
    const reservation: ProcessPodState = {
      name: spec.name,
      resource: spec.kind.resource,
      instanceId: spec.instanceId,
      pid: 0,
      startedAt: this.clock(),
      creator: { pid: process.pid, ...(selfStartTicks !== undefined ? { procStartTicks: selfStartTicks } : {}) },
    };
    if ((await this.states.create(reservation)) === 'exists') return 'exists';

    let child: ChildProcess;
    try {
      child = await this.spawnWorker(spec, this.states.path(spec.name));
    } catch (error) {
      await this.states.remove(spec.name);
      throw error;
    }
    const pid = child.pid!;
    child.once('exit', () => {
      if (this.children.get(spec.name) === child) this.children.delete(spec.name);
      // A pod being deleted is gone once its process is; one that died on its own stays, Failed.
      void this.states.read(spec.name).then((current) => {
        if (current?.pid === pid && current.deletedAt !== undefined) return this.states.remove(spec.name);
      });
    });
    const procStartTicks = readProcStat(pid)?.startTicks;
    // A deletion begun meanwhile (by another process) is kept, and applies to the worker now known.
    const { creator: _started, ...reserved } = (await this.states.read(spec.name)) ?? reservation;
    await this.states.write({ ...reserved, pid, ...(procStartTicks !== undefined ? { procStartTicks } : {}) });
    if (reserved.deletedAt !== undefined) signalGroup(pid, 'SIGTERM');
    else if (child.exitCode === null && child.signalCode === null) this.children.set(spec.name, child);
    return 'created';
  }

  async delete(_kind: KindConfig, name: string): Promise<'deleted' | 'absent'> {
    const read = await this.states.read(name);
    const state = read && (await this.settle(read));
    if (!state) return 'absent';
    if (!this.isLive(state)) {
      await this.states.remove(name);
      return 'deleted';
    }
    if (state.deletedAt === undefined) {
      // A worker still being started is signalled by its creator, which keeps the deletion (`createWithinLimit`).
      signalGroup(state.pid, 'SIGTERM');
      await this.states.write({ ...state, deletedAt: this.clock() });
      // Unref'd: a short invocation exits without waiting; the next list() finishes the job.
      setTimeout(() => void this.collect(undefined).catch(() => undefined), this.gracePeriodMs + 10).unref();
    }
    return 'deleted';
  }

  list(kind: KindConfig): Promise<PodInfo[]> {
    return this.collect(kind);
  }

  /** The kind's pods (every pod when undefined), finishing deletions on the way. */
  private async collect(kind: KindConfig | undefined): Promise<PodInfo[]> {
    const pods: PodInfo[] = [];
    for (const state of await this.readAll()) {
      if (kind && state.resource !== kind.resource) continue;
      if (state.deletedAt !== undefined && (await this.finishDeletion(state))) continue;
      pods.push({
        name: state.name,
        resource: state.resource,
        instanceId: state.instanceId,
        // A dead process's exit code is not knowable from another process; Failed is what the monitor needs.
        phase: state.pid === 0 ? 'Pending' : this.isAlive(state) ? 'Running' : 'Failed',
        startedAt: state.startedAt,
        terminating: state.deletedAt !== undefined,
      });
    }
    return pods;
  }

  /**
   * CPU in millicores over the last `usageWindowMs`, or since the pod was first measured (a pod
   * seen for the first time is sampled for `usageSampleMs`), memory as VmRSS; percentages of
   * `requests`. The worker process only, not processes it spawned. [] where /proc is absent (not Linux).
   */
  async usage(kind: KindConfig): Promise<PodUsage[]> {
    if (!PROC_AVAILABLE) return [];
    const states = await this.readAll();
    this.cpu.retain(new Set(states.map((state) => state.name)));
    const running = states.filter(
      (state) => state.resource === kind.resource && state.deletedAt === undefined && this.isAlive(state),
    );
    if (running.length === 0) return [];
    const millicores = await this.cpu.millicores(running.map((state) => ({ key: state.name, pid: state.pid })));
    const requests = this.options.requests ?? {};
    return running.flatMap((state): PodUsage[] => {
      const cpuMillis = millicores.get(state.name);
      const memoryBytes = readRssBytes(state.pid);
      if (cpuMillis === undefined || memoryBytes === undefined) return [];
      const cpuPercent = percentOf(cpuMillis, requests.cpuMillis);
      const memoryPercent = percentOf(memoryBytes, requests.memoryBytes);
      return [
        {
          name: state.name,
          instanceId: state.instanceId,
          cpuMillis,
          memoryBytes,
          ...(cpuPercent !== undefined ? { cpuPercent } : {}),
          ...(memoryPercent !== undefined ? { memoryPercent } : {}),
        },
      ];
    });
  }

  /** Stops every child this runtime started (SIGTERM, SIGKILL after the grace period) and forgets them. */
  async stopAll(): Promise<void> {
    const names = [...this.children.keys()];
    await Promise.all(
      names.map(async (name) => {
        const state = await this.states.read(name);
        const child = this.children.get(name);
        const pid = state?.pid ?? child?.pid;
        if (pid === undefined) return;
        signalGroup(pid, 'SIGTERM');
        const exited = await this.waitForExit(pid, state, this.gracePeriodMs);
        if (!exited) {
          signalGroup(pid, 'SIGKILL');
          await this.waitForExit(pid, state, 2000);
        }
        await this.states.remove(name);
        this.children.delete(name);
      }),
    );
  }

  async close(): Promise<void> {
    if (this.options.stopOnClose ?? true) await this.stopAll();
  }

  // -------------------------------------------------------------------------------------------

  private spawnWorker(spec: PodSpec, statePath: string): Promise<ChildProcess> {
    const log = openSync(join(this.logDir, `${spec.name}.log`), 'a');
    try {
      const child = spawn(this.options.command, [...this.options.args], {
        // Own process group, so delete can signal the worker and its children together.
        detached: true,
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          ...this.options.env,
          INSTANCE_ID: spec.instanceId,
          RESOURCE: spec.kind.resource,
          POD_NAME: spec.name,
          [POD_STATE_VARIABLE]: statePath,
        },
      });
      child.unref();
      return new Promise((resolve, reject) => {
        child.once('spawn', () => resolve(child));
        child.once('error', (error) =>
          reject(
            new InstanceRuntimeError(
              `create ${spec.name}: cannot start ${this.options.command}: ${error.message}`,
              undefined,
              { cause: error },
            ),
          ),
        );
      });
    } finally {
      closeSync(log);
    }
  }

  /** For a pod being deleted: true once it is gone (state removed); SIGKILL once its grace period is over. */
  private async finishDeletion(state: ProcessPodState): Promise<boolean> {
    // Its creator writes the pid next, and signals the worker then.
    if (state.pid === 0) return false;
    if (this.isAlive(state) && this.clock() >= (state.deletedAt ?? 0) + this.gracePeriodMs) {
      signalGroup(state.pid, 'SIGKILL');
      await this.waitForExit(state.pid, state, 1000);
    }
    if (this.isAlive(state)) return false;
    await this.states.remove(state.name);
    return true;
  }

  /** Every pod's state, reservations of dead creators settled. */
  private async readAll(): Promise<ProcessPodState[]> {
    const settled = await Promise.all((await this.states.readAll()).map((state) => this.settle(state)));
    return settled.filter((state): state is ProcessPodState => state !== undefined);
  }

  /** Running, or being started by a creator that is alive. */
  private isLive(state: ProcessPodState): boolean {
    return state.pid === 0 ? state.creator !== undefined && this.isAlive(state.creator) : this.isAlive(state);
  }

  /**
   * A reservation whose creator died before writing the pid: the worker it started, found by the
   * state file in its environment, is adopted; when none started, the reservation is dropped.
   */
  private async settle(state: ProcessPodState): Promise<ProcessPodState | undefined> {
    if (state.pid !== 0 || this.isLive(state)) return state;
    const path = this.states.path(state.name);
    const orphan = findProcessByEnvironment(`${POD_STATE_VARIABLE}=${path}`);
    const current = await this.states.read(state.name);
    // Settled meanwhile by another reader, or by the creator after all.
    if (current?.pid !== 0 || current.creator?.pid !== state.creator?.pid) return current;
    if (orphan === undefined) {
      await this.states.remove(state.name);
      return undefined;
    }
    const { creator: _died, ...reserved } = current;
    const adopted: ProcessPodState = { ...reserved, pid: orphan.pid, procStartTicks: orphan.startTicks };
    await this.states.write(adopted);
    if (adopted.deletedAt !== undefined) signalGroup(orphan.pid, 'SIGTERM');
    return adopted;
  }

  /**
   * Alive and still our process: a zombie counts as dead, and so does a pid now used by
   * another process (its /proc start time differs). Without /proc only `kill(pid, 0)` is known.
   */
  private isAlive(state: Pick<ProcessPodState, 'pid' | 'procStartTicks'>): boolean {
    if (state.pid <= 0) return false;
    try {
      process.kill(state.pid, 0);
    } catch {
      // ESRCH: gone. EPERM: the pid belongs to another user now, so not our worker.
      return false;
    }
    const stat = readProcStat(state.pid);
    if (!PROC_AVAILABLE) return true;
    if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
    return state.procStartTicks === undefined || stat.startTicks === state.procStartTicks;
  }

  private async waitForExit(pid: number, state: ProcessPodState | undefined, timeoutMs: number): Promise<boolean> {
    const probe = { pid, procStartTicks: state?.procStartTicks };
    // A real wait, so the system clock whatever clock the pods' times use.
    const deadline = systemClock() + timeoutMs;
    while (this.isAlive(probe)) {
      if (systemClock() >= deadline) return false;
      await sleep(20);
    }
    return true;
  }
}
