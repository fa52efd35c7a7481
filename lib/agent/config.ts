/**
 * The reference worker's settings, read from the environment exactly as a
 * pod or a local process receives them (docs/worker-contract.md).
 */
import { hostname } from 'node:os';
import { INSTANCE_ID } from '../domain/orchestration.js';
import { DEFAULT_ROOT, ROOT_PATH } from '../orchestration/layout.js';
import { MAX_BURN_MS_PER_SECOND } from './cpu-burn.js';

/** A worker setting is missing or malformed; names the variable so the fix is obvious. */
export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError';
  readonly code = 'WORKER_CONFIG';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export type HeartbeatTarget =
  | { readonly transport: 'mqtt'; readonly url: string; readonly topic: string }
  | {
      readonly transport: 'kafka';
      readonly brokers: readonly string[];
      readonly topic: string;
      readonly clientId: string;
    };

export interface WorkerSettings {
  readonly instanceId: string;
  readonly resource: string;
  readonly podName: string;
  /** 0 disables heartbeats (a kind that is not monitored). */
  readonly heartbeatIntervalMs: number;
  readonly heartbeat: HeartbeatTarget;
  /** Legacy layout root, as the orchestrator's ZK_ROOT. */
  readonly root: string;
  /** CPU milliseconds burnt per served resource per second (WORKER_CPU_MS_PER_RESOURCE); 0 = off. */
  readonly cpuMsPerResource: number;
}

export const WORKER_DEFAULTS = {
  heartbeatIntervalSeconds: 3,
  mqttUrl: 'mqtt://127.0.0.1:1883',
  topic: 'HeartBeat',
  root: DEFAULT_ROOT,
  /** Off: the reference worker costs nothing per resource unless asked to (a laptop demo of elastic scaling). */
  cpuMsPerResource: 0,
} as const;

const RESOURCE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

function required(env: NodeJS.ProcessEnv, names: readonly string[]): string {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  throw new WorkerConfigError(
    names[0] ?? 'env',
    `is required${names.length > 1 ? ` (or ${names.slice(1).join(', ')})` : ''}`,
  );
}

export function workerSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const instanceId = required(env, ['INSTANCE_ID']);
  if (!INSTANCE_ID.test(instanceId)) {
    throw new WorkerConfigError(
      'INSTANCE_ID',
      `must be a small non-negative integer like "0", got ${JSON.stringify(instanceId)}`,
    );
  }
  // IOTA_RESOURCE is what the pod templates set; RESOURCE is the short local name.
  const resource = required(env, ['RESOURCE', 'IOTA_RESOURCE']);
  if (!RESOURCE_NAME.test(resource)) {
    throw new WorkerConfigError(
      'RESOURCE',
      `must be a resource kind name like "Thing", got ${JSON.stringify(resource)}`,
    );
  }

  const rawInterval = env.HEARTBEAT_INTERVAL?.trim() || String(WORKER_DEFAULTS.heartbeatIntervalSeconds);
  const intervalSeconds = Number(rawInterval);
  if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0 || intervalSeconds > 3600) {
    throw new WorkerConfigError(
      'HEARTBEAT_INTERVAL',
      `must be seconds in [0, 3600] (0 = no heartbeats), got ${JSON.stringify(rawInterval)}`,
    );
  }

  const rawBurn = env.WORKER_CPU_MS_PER_RESOURCE?.trim() || String(WORKER_DEFAULTS.cpuMsPerResource);
  const cpuMsPerResource = Number(rawBurn);
  if (!Number.isFinite(cpuMsPerResource) || cpuMsPerResource < 0 || cpuMsPerResource > MAX_BURN_MS_PER_SECOND) {
    throw new WorkerConfigError(
      'WORKER_CPU_MS_PER_RESOURCE',
      `must be CPU milliseconds per resource per second in [0, ${MAX_BURN_MS_PER_SECOND}] (0 = off), got ${JSON.stringify(rawBurn)}`,
    );
  }

  const root = env.ZK_ROOT?.trim() || WORKER_DEFAULTS.root;
  if (!ROOT_PATH.test(root))
    throw new WorkerConfigError(
      'ZK_ROOT',
      `must be an absolute path like /iota/orchestration, got ${JSON.stringify(root)}`,
    );

  const podName = env.POD_NAME?.trim() || `${resource.toLowerCase()}-${instanceId}-${hostname()}-${process.pid}`;
  const topic = env.HEARTBEAT_TOPIC?.trim() || WORKER_DEFAULTS.topic;
  const brokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  let heartbeat: HeartbeatTarget;
  if (brokers.length > 0) {
    for (const broker of brokers) {
      if (!/^[^\s:/]+:\d{1,5}$/.test(broker))
        throw new WorkerConfigError('KAFKA_BROKERS', `must be host:port[,host:port...], got ${JSON.stringify(broker)}`);
    }
    heartbeat = { transport: 'kafka', brokers, topic, clientId: podName };
  } else {
    const url = env.MQTT_URL?.trim() || WORKER_DEFAULTS.mqttUrl;
    if (!/^(mqtts?|wss?|tcp|tls):\/\/[^\s]+$/.test(url)) {
      throw new WorkerConfigError(
        'MQTT_URL',
        `must be a broker URL like mqtt://127.0.0.1:1883, got ${JSON.stringify(url)}`,
      );
    }
    heartbeat = { transport: 'mqtt', url, topic };
  }

  return {
    instanceId,
    resource,
    podName,
    heartbeatIntervalMs: Math.round(intervalSeconds * 1000),
    heartbeat,
    root,
    cpuMsPerResource,
  };
}
