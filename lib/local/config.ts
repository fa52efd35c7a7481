/**
 * `npm start` configuration: applies the local defaults of the variables in
 * lib/local/env-variables.ts, checks the values, and prints that table as
 * `--help`. Local defaults differ from the Lambda ones only where a laptop
 * wants faster feedback (heartbeat timeout, start-up grace, reconcile interval).
 */
import { dataDirOf } from '../store/open.js';
import { ENV_VARIABLES, type EnvVariable } from './env-variables.js';

/** A bad value in the environment, naming the variable. */
export class LocalConfigError extends Error {
  override readonly name = 'LocalConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

export type MqttSetup =
  | { readonly embedded: true; readonly port: number }
  | { readonly embedded: false; readonly url: string };

export interface LocalConfig {
  readonly httpPort: number;
  readonly mqtt: MqttSetup;
  /** Undefined: heartbeats arrive over MQTT. */
  readonly kafka: { readonly brokers: readonly string[]; readonly groupId: string } | undefined;
  readonly reconcileIntervalMs: number;
  /** At shutdown, how long the embedded broker's inbox is applied before the process exits. */
  readonly inboxDrainMs: number;
  readonly logFormat: 'pretty' | 'json';
  readonly dataDir: string;
  /** The environment for createApp and the workers: the caller's, with the local defaults filled in. */
  readonly env: NodeJS.ProcessEnv;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new LocalConfigError(name, `must be a port number in [0, 65535], got ${JSON.stringify(raw)}`);
  return value;
}

export function localConfigFromEnv(source: NodeJS.ProcessEnv, isTty: boolean): LocalConfig {
  const env: NodeJS.ProcessEnv = { ...source };
  for (const variable of ENV_VARIABLES) {
    if (variable.apply && (env[variable.name] === undefined || env[variable.name] === ''))
      env[variable.name] = variable.localDefault;
  }

  const rawInterval = env.RECONCILE_INTERVAL?.trim() || '10';
  const interval = Number(rawInterval);
  if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) {
    throw new LocalConfigError(
      'RECONCILE_INTERVAL',
      `must be seconds in [0.1, 3600], got ${JSON.stringify(rawInterval)}`,
    );
  }

  const rawDrain = env.INBOX_DRAIN_SECONDS?.trim() || '10';
  const drain = Number(rawDrain);
  if (!Number.isFinite(drain) || drain < 0 || drain > 3600) {
    throw new LocalConfigError('INBOX_DRAIN_SECONDS', `must be seconds in [0, 3600], got ${JSON.stringify(rawDrain)}`);
  }

  const format = env.LOG_FORMAT?.trim().toLowerCase();
  if (format && format !== 'json' && format !== 'pretty')
    throw new LocalConfigError('LOG_FORMAT', `must be "pretty" or "json", got ${JSON.stringify(env.LOG_FORMAT)}`);

  const mqttUrl = env.MQTT_URL?.trim();
  if (mqttUrl && !/^(mqtts?|wss?|tcp|tls):\/\/\S+$/.test(mqttUrl)) {
    throw new LocalConfigError(
      'MQTT_URL',
      `must be a broker URL like mqtt://127.0.0.1:1883, got ${JSON.stringify(mqttUrl)}`,
    );
  }
  const brokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  for (const broker of brokers) {
    if (!/^[^\s:/]+:\d{1,5}$/.test(broker))
      throw new LocalConfigError('KAFKA_BROKERS', `must be host:port[,host:port...], got ${JSON.stringify(broker)}`);
  }

  env.ORCH_DATA_DIR = dataDirOf(env);
  return {
    httpPort: port(env, 'PORT', 9281),
    mqtt: mqttUrl ? { embedded: false, url: mqttUrl } : { embedded: true, port: port(env, 'MQTT_PORT', 1883) },
    kafka: brokers.length > 0 ? { brokers, groupId: env.KAFKA_GROUP_ID?.trim() || 'iota-orchestrator' } : undefined,
    reconcileIntervalMs: Math.round(interval * 1000),
    inboxDrainMs: Math.round(drain * 1000),
    logFormat: format === 'json' || format === 'pretty' ? format : isTty ? 'pretty' : 'json',
    dataDir: env.ORCH_DATA_DIR,
    env,
  };
}

/* ------------------------------------------------------------------ CLI */

/** A command-line argument npm start does not take. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = 'usage: npm start [-- --help]';

/** Command-line arguments: configuration is by environment only, so the one flag is --help. */
export function parseArgs(argv: readonly string[]): { help: boolean } {
  let help = false;
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg.startsWith('-'))
      throw new UsageError(
        `unknown flag ${JSON.stringify(arg)}. ${USAGE}; settings are environment variables (see --help)`,
      );
    else
      throw new UsageError(
        `unexpected argument ${JSON.stringify(arg)}. ${USAGE}; settings are environment variables (see --help)`,
      );
  }
  return { help };
}

const GROUP_TITLES: Record<EnvVariable['group'], string> = {
  local: 'Local runtime',
  store: 'Store',
  messaging: 'Messaging',
  orchestration: 'Orchestration',
  worker: 'Workers',
  logging: 'Logging',
};

export function helpText(): string {
  const width = Math.max(...ENV_VARIABLES.map((variable) => variable.name.length)) + 2;
  const lines = [
    'iota-orchestrator — the whole system on one machine.',
    '',
    USAGE,
    '',
    'Starts, in one process: the store (embedded SQLite, or ZooKeeper), an embedded MQTT',
    'broker (or an external one), the cm/notify and HeartBeat consumers, the HTTP API and',
    'dashboard on http://127.0.0.1:$PORT/, the reconcile loop, and one local worker',
    'process per instance (bin/iota-worker.ts), recycled when it dies or goes silent.',
    '',
    'Instances are created on demand: an empty store has none; the first resource assigned',
    'creates instance 0, and Orchestrate (dashboard button, or POST .../orchestrate) sizes the',
    "pool, with the kind's initInstances (10) as the minimum, as the legacy did. Nothing is",
    'created at start-up, so a first run does not start 20 worker processes you did not ask for.',
    '',
    'Ctrl-C (or SIGTERM) stops the broker, applies what it acknowledged (INBOX_DRAIN_SECONDS at most),',
    'then stops the workers and the store; a second Ctrl-C forces.',
    '',
    'Environment variables (local default in brackets):',
  ];
  for (const group of Object.keys(GROUP_TITLES) as Array<EnvVariable['group']>) {
    lines.push('', `  ${GROUP_TITLES[group]}`);
    for (const variable of ENV_VARIABLES.filter((entry) => entry.group === group)) {
      const fallback = variable.localDefault === undefined ? 'unset' : variable.localDefault;
      lines.push(`    ${variable.name.padEnd(width)}${variable.description} [${fallback}]`);
    }
  }
  lines.push('', 'Walkthrough: docs/local.md. Worker contract: docs/worker-contract.md.', '');
  return lines.join('\n');
}
