/**
 * The reference worker: what a DAC or rules engine does toward the
 * orchestrator, and nothing else (docs/worker-contract.md).
 *
 * - reads its resource list from `<root>/<Resource>/<instanceId>/resources`;
 * - watches `<root>/<Resource>/<instanceId>/_reload` and re-reads the list on
 *   every change (the orchestrator bumps `times` on every change that concerns
 *   the instance);
 * - sends a heartbeat every `heartbeatIntervalMs` on topic `HeartBeat`;
 * - optionally costs CPU in proportion to its resources (`cpuMsPerResource`,
 *   lib/agent/cpu-burn.ts), on a thread of its own so heartbeats stay on time.
 *
 * Node workers can embed it as a library: `startWorker(options)` and listen
 * for `resources`.
 */
import { systemClock } from '../clock.js';
import { EventEmitter } from 'node:events';
import { Layout } from '../orchestration/layout.js';
import type { NodeStore } from '../store/port.js';
import { WORKER_DEFAULTS } from './config.js';
import { CpuBurner } from './cpu-burn.js';
import type { HeartbeatMessage, HeartbeatSender } from './heartbeat-sender.js';

/** The subset of a pino logger the worker uses, so any compatible logger fits. */
export interface WorkerLogger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
}

export interface WorkerOptions {
  readonly instanceId: string;
  readonly resource: string;
  /** Sent in every heartbeat; the orchestrator shows it next to the instance. */
  readonly podName: string;
  /** Owned by the caller: `stop()` leaves it open. */
  readonly store: NodeStore;
  /** Legacy layout root; default /iota/orchestration. */
  readonly root?: string;
  /** 0 or absent sender: no heartbeats. */
  readonly heartbeatIntervalMs?: number;
  /** Owned by the worker once passed: `stop()` closes it. */
  readonly heartbeat?: HeartbeatSender;
  /**
   * CPU milliseconds burnt per served resource per second, following the list as it reloads;
   * 0 or absent: none. Capped at one core.
   */
  readonly cpuMsPerResource?: number;
  /** How long to wait before reading again after a store error. */
  readonly retryDelayMs?: number;
  readonly logger?: WorkerLogger;
  readonly now?: () => number;
}

export interface ResourcesUpdate {
  readonly ids: readonly string[];
  /** `_reload.times` as read with this list (0 when the node does not exist yet). */
  readonly reloadTimes: number;
}

export interface RunningWorker {
  readonly instanceId: string;
  readonly resource: string;
  readonly podName: string;
  /** The resource ids this worker serves now. */
  resources(): readonly string[];
  reloadTimes(): number;
  /** Heartbeats sent so far (dropped ones not counted). */
  heartbeatsSent(): number;
  /** CPU milliseconds per second burnt now for the resources served (0 when the burn is off). */
  cpuBurnMsPerSecond(): number;
  /** Fires after every re-read caused by a `_reload` change. */
  on(event: 'resources', listener: (update: ResourcesUpdate) => void): this;
  off(event: 'resources', listener: (update: ResourcesUpdate) => void): this;
  /** Stops heartbeats and the watch; idempotent. */
  stop(): Promise<void>;
}

const silentLogger: WorkerLogger = { info() {}, warn() {} };

/** `{"ids":[...]}` as the orchestrator writes it; anything else is a corrupt node. */
export function parseResourceList(data: string, path: string): string[] {
  if (data === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new Error(`${path} is not JSON: ${JSON.stringify(data.slice(0, 80))}`);
  }
  const ids = (parsed as { ids?: unknown } | null)?.ids;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw new Error(`${path} must be {"ids":[string, ...]}, got ${JSON.stringify(data.slice(0, 80))}`);
  }
  return ids;
}

/** `{"times":K}`; a missing or empty node counts as 0. */
export function parseReloadTimes(data: string | undefined): number {
  if (!data) return 0;
  try {
    const times = (JSON.parse(data) as { times?: unknown } | null)?.times;
    return typeof times === 'number' && Number.isFinite(times) ? times : 0;
  } catch {
    return 0;
  }
}

class Worker extends EventEmitter implements RunningWorker {
  readonly instanceId: string;
  readonly resource: string;
  readonly podName: string;
  private ids: readonly string[] = [];
  private times = 0;
  private sent = 0;
  private stopped = false;
  private cancelWatch: (() => void) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private burner: CpuBurner | undefined;
  private readonly paths: { resources: string; reload: string };
  private readonly log: WorkerLogger;
  private readonly now: () => number;

  constructor(private readonly options: WorkerOptions) {
    super();
    this.instanceId = options.instanceId;
    this.resource = options.resource;
    this.podName = options.podName;
    const layout = new Layout(options.root ?? WORKER_DEFAULTS.root);
    this.paths = {
      resources: layout.resources(options.resource, options.instanceId),
      reload: layout.reload(options.resource, options.instanceId),
    };
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? systemClock;
  }

  resources = (): readonly string[] => this.ids;
  reloadTimes = (): number => this.times;
  heartbeatsSent = (): number => this.sent;
  cpuBurnMsPerSecond = (): number => this.burner?.msPerSecond() ?? 0;

  async start(): Promise<void> {
    const cpuMsPerResource = this.options.cpuMsPerResource ?? 0;
    if (cpuMsPerResource > 0) {
      this.burner = new CpuBurner((error) =>
        this.log.warn({ err: error }, 'the CPU burn thread failed; serving on without it'),
      );
      this.log.info({ cpuMsPerResource }, `burning ${cpuMsPerResource} CPU ms per resource per second`);
    }
    // Watch before the first read, so a change between the two is never missed.
    this.armWatch();
    await this.read('start');
    this.startHeartbeats();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelWatch?.();
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.retryTimer);
    await this.reading?.catch(() => undefined);
    await this.burner?.stop();
    await this.options.heartbeat?.close();
  }

  private armWatch(): void {
    if (this.stopped) return;
    // A store watch fires once: re-arm first, then read, as ZooKeeper clients do.
    this.cancelWatch = this.options.store.watch(this.paths.reload, () => {
      this.armWatch();
      void this.read('reload');
    });
  }

  /** Reads are serialised; a change during a read causes exactly one more read after it. */
  private read(cause: 'start' | 'reload' | 'retry'): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.readOnce(cause).finally(() => {
      this.reading = undefined;
      if (this.readAgain && !this.stopped) {
        this.readAgain = false;
        void this.read('reload');
      }
    });
    return this.reading;
  }

  private async readOnce(cause: 'start' | 'reload' | 'retry'): Promise<void> {
    try {
      // _reload first: the list read after it is at least as new as that count.
      const [reload, resources] = await this.options.store.getMany([this.paths.reload, this.paths.resources]);
      if (this.stopped) return;
      const ids = resources ? parseResourceList(resources.data, this.paths.resources) : [];
      this.times = parseReloadTimes(reload?.data);
      this.ids = ids;
      this.burner?.set(ids.length * (this.options.cpuMsPerResource ?? 0));
      this.log.info(
        { resource: this.resource, instanceId: this.instanceId, resources: ids.length, reloadTimes: this.times, cause },
        `serving ${ids.length} ${this.resource}${ids.length === 1 ? '' : 's'} (reload ${this.times})`,
      );
      if (cause !== 'start') this.emit('resources', { ids, reloadTimes: this.times } satisfies ResourcesUpdate);
    } catch (error) {
      if (this.stopped) return;
      this.log.warn({ err: error, path: this.paths.resources }, 'could not read the resource list; retrying');
      if (cause === 'start') throw error;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.read('retry'), this.options.retryDelayMs ?? 1000);
    }
  }

  private startHeartbeats(): void {
    const interval = this.options.heartbeatIntervalMs ?? 0;
    const sender = this.options.heartbeat;
    if (!sender || interval <= 0 || this.stopped) return;
    const beat = async (): Promise<void> => {
      const message: HeartbeatMessage = {
        resource: this.resource,
        instanceId: this.instanceId,
        podName: this.podName,
        at: this.now(),
        pid: process.pid,
        resources: this.ids.length,
        reloadTimes: this.times,
      };
      if ((await sender.send(message)) === 'sent') this.sent += 1;
    };
    void beat();
    this.heartbeatTimer = setInterval(() => void beat(), interval);
  }
}

/** Starts a worker; resolves once the first resource list has been read. */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const worker = new Worker(options);
  try {
    await worker.start();
  } catch (error) {
    await worker.stop();
    throw error;
  }
  return worker;
}
