/**
 * Runs `npm start` (lib/local/main.ts) as a real child process on free ports
 * with its own data directory, for the local integration and end-to-end
 * tests and the recovery benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor as waitUntil } from '../../support/wait.js';
import { freePort } from '../../support/zookeeper-server.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface RunningMain {
  readonly httpUrl: string;
  readonly port: number;
  readonly mqttPort: number;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Every JSON log record so far (LOG_FORMAT=json): the console events and the components' logs. */
  logs(): Array<Record<string, unknown>>;
  /** The JSON console events so far (LOG_FORMAT=json). */
  events(): Array<Record<string, unknown>>;
  /** Pids of the worker processes named in the process runtime's state files. */
  workerPids(): Map<string, number>;
  /** SIGTERM and wait for the exit; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Removes the data directory (after stop). */
  cleanup(): void;
}

export interface StartMainOptions {
  readonly env?: Record<string, string | undefined>;
  /** Reuse a data directory (a restart); default: a fresh temp one. */
  readonly dataDir?: string;
  readonly port?: number;
  readonly mqttPort?: number;
  readonly args?: readonly string[];
  readonly readyTimeoutMs?: number;
}

/** The test runner's own variables would silence the child's logs; a real user has none of them. */
function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('VITEST') || key === 'NODE_ENV' || key === 'TEST') continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** `waitFor` of test/support/wait.ts with positional arguments, as the local tests call it. */
export const waitFor = <T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> => waitUntil(probe, { what, timeoutMs, intervalMs });

export const isAlive = (pid: number): boolean => {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
};

export function readWorkerPids(dataDir: string): Map<string, number> {
  const podsDir = join(dataDir, 'instances', 'pods');
  const pids = new Map<string, number>();
  if (!existsSync(podsDir)) return pids;
  for (const file of readdirSync(podsDir).filter((name) => name.endsWith('.json'))) {
    try {
      const state = JSON.parse(readFileSync(join(podsDir, file), 'utf8')) as {
        name: string;
        pid: number;
        deletedAt?: number;
      };
      // pid 0: a worker whose start is under way has no pid yet (kill(0) would signal the test's own group).
      if (state.deletedAt === undefined && state.pid > 0) pids.set(state.name, state.pid);
    } catch {
      // Being rewritten; the next read sees it.
    }
  }
  return pids;
}

export async function startMain(options: StartMainOptions = {}): Promise<RunningMain> {
  const port = options.port ?? (await freePort());
  const mqttPort = options.mqttPort ?? (await freePort());
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'iota-local-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'lib/local/main.ts', ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: childEnv({
      PORT: String(port),
      MQTT_PORT: String(mqttPort),
      ORCH_DATA_DIR: dataDir,
      LOG_FORMAT: 'json',
      // The harness reads the console's info events ("started", …): whatever level the caller runs at.
      LOG_LEVEL: 'info',
      RECONCILE_INTERVAL: '1',
      HEARTBEAT_INTERVAL: '1',
      ZK_CONNECT: undefined,
      MQTT_URL: undefined,
      KAFKA_BROKERS: undefined,
      ...options.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const httpUrl = `http://127.0.0.1:${port}`;

  const running: RunningMain = {
    httpUrl,
    port,
    mqttPort,
    dataDir,
    child,
    output: () => output,
    logs: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    events: () => running.logs().filter((record) => record.component === 'local'),
    workerPids: () => readWorkerPids(dataDir),
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
        const response = await fetch(`${httpUrl}/v1/api/health`).catch(() => undefined);
        return response?.ok && running.events().some((event) => event.event === 'started') ? true : undefined;
      },
      `npm start to answer on ${httpUrl}`,
      options.readyTimeoutMs ?? 30_000,
      200,
    );
  } catch (error) {
    await running.stop();
    throw new Error(`${(error as Error).message}\n--- output ---\n${output}`);
  }
  return running;
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}
