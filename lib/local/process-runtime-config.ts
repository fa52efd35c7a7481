/**
 * The local instance runtime: one child process of the reference worker
 * (bin/iota-worker.ts) per instance, run by the current node with the tsx
 * loader, its state in `<ORCH_DATA_DIR>/instances` and its logs in
 * `<ORCH_DATA_DIR>/logs`. `WORKER_COMMAND` runs another worker instead (any
 * language; docs/worker-contract.md).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { InstanceRuntime } from '../instances/port.js';
import {
  DEFAULT_MAX_PROCESSES,
  MAX_PROCESSES_SETTING,
  ProcessRuntime,
  type ProcessRuntimeOptions,
} from '../instances/processes.js';
import { dataDirOf } from '../store/open.js';
import { LocalConfigError } from './config.js';

const WORKER_RELATIVE = join('bin', 'iota-worker.ts');

/**
 * The checkout holding bin/iota-worker.ts: the nearest ancestor of this module
 * that has it, else of the working directory. A bundle (`sls invoke local`
 * runs one from .esbuild/) lives elsewhere than its sources.
 */
function findPackageRoot(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, WORKER_RELATIVE))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return resolve(starts[0]!, '..', '..');
}

export const WORKER_SCRIPT = join(findPackageRoot(), WORKER_RELATIVE);

/**
 * Variables a worker needs to find the store, the broker and its settings.
 * Passed explicitly because the orchestrator may run with an environment it
 * built itself (npm start's local defaults) rather than its own process.env.
 */
const WORKER_ENV = [
  'ZK_CONNECT',
  'ZK_ROOT',
  'ZK_SESSION_TIMEOUT_MS',
  'ZK_AUTH',
  'MQTT_URL',
  'KAFKA_BROKERS',
  'HEARTBEAT_TOPIC',
  'HEARTBEAT_INTERVAL',
  'WORKER_CPU_MS_PER_RESOURCE',
] as const;

/**
 * What each local worker counts as requested, the base of its CPU and memory percentages,
 * as a pod's container requests are on Kubernetes. The defaults are the iota-dac template's
 * requests (250m, 256Mi): the idle reference worker (node + tsx) holds about 90 MiB resident,
 * which against 128 MiB would already read 70 %.
 * - `LOCAL_WORKER_CPU_REQUEST_MILLIS`: millicores, default 250;
 * - `LOCAL_WORKER_MEMORY_REQUEST_MB`: mebibytes (Kubernetes' Mi), default 256.
 * 0 means no request: that percentage is left out, as for a pod without one.
 */
export const LOCAL_WORKER_REQUEST_DEFAULTS = { cpuMillis: 250, memoryMiB: 256 } as const;

function nonNegative(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new LocalConfigError(name, `must be a number >= 0 (0 = no request), got ${JSON.stringify(raw)}`);
  return value;
}

/** The requests from `LOCAL_WORKER_CPU_REQUEST_MILLIS` and `LOCAL_WORKER_MEMORY_REQUEST_MB`. */
export function localWorkerRequestsFromEnv(env: NodeJS.ProcessEnv): { cpuMillis: number; memoryBytes: number } {
  return {
    cpuMillis: nonNegative(env, 'LOCAL_WORKER_CPU_REQUEST_MILLIS', LOCAL_WORKER_REQUEST_DEFAULTS.cpuMillis),
    memoryBytes: Math.round(
      nonNegative(env, 'LOCAL_WORKER_MEMORY_REQUEST_MB', LOCAL_WORKER_REQUEST_DEFAULTS.memoryMiB) * 2 ** 20,
    ),
  };
}

/** `LOCAL_MAX_PROCESSES`: most local workers at once, every kind together (default 16). */
export function localMaxProcessesFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env[MAX_PROCESSES_SETTING]?.trim();
  if (!raw) return DEFAULT_MAX_PROCESSES;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new LocalConfigError(MAX_PROCESSES_SETTING, `must be a whole number >= 1, got ${JSON.stringify(raw)}`);
  return value;
}

/** `node --import <tsx loader> bin/iota-worker.ts`, independent of the working directory. */
export function referenceWorkerCommand(): { command: string; args: string[] } {
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { command: process.execPath, args: ['--import', tsxLoader, WORKER_SCRIPT] };
}

/** `WORKER_COMMAND` split on whitespace (no shell, no quoting: keep paths free of spaces). */
export function workerCommandFromEnv(env: NodeJS.ProcessEnv): { command: string; args: string[] } {
  const custom = env.WORKER_COMMAND?.trim();
  if (!custom) return referenceWorkerCommand();
  const [command, ...args] = custom.split(/\s+/);
  return { command: command!, args };
}

export function processRuntimeOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  overrides: Partial<ProcessRuntimeOptions> = {},
): ProcessRuntimeOptions {
  const dataDir = dataDirOf(env);
  const workerEnv: Record<string, string> = {
    ORCH_DATA_DIR: dataDir,
    // Worker logs go to their own files: keep them informative whatever the console's level.
    LOG_LEVEL: env.WORKER_LOG_LEVEL || 'info',
  };
  for (const name of WORKER_ENV) {
    const value = env[name];
    if (value !== undefined && value !== '') workerEnv[name] = value;
  }
  return {
    ...workerCommandFromEnv(env),
    env: workerEnv,
    stateDir: join(dataDir, 'instances'),
    logDir: join(dataDir, 'logs'),
    requests: localWorkerRequestsFromEnv(env),
    maxProcesses: localMaxProcessesFromEnv(env),
    // A short invocation (a local `reconcile` run) leaves its workers running, as pods outlive
    // a Lambda; `npm start` asks for the opposite so Ctrl-C leaves nothing behind.
    stopOnClose: false,
    ...overrides,
  };
}

export async function processRuntimeFromEnv(
  env: NodeJS.ProcessEnv,
  overrides: Partial<ProcessRuntimeOptions> = {},
): Promise<InstanceRuntime> {
  return new ProcessRuntime(processRuntimeOptionsFromEnv(env, overrides));
}
