/**
 * The composition root: builds the adapters from the environment once and
 * hands them to the use cases. The App owns every shared part (clock, logger,
 * alert publisher, store, runtime); nothing in lib/ keeps a process-global.
 * Lambda handlers share one App per container (`sharedApp`), created on first
 * invocation, never at import time; tests and the local runtime build their
 * own with `createApp` and injected parts.
 */
import { alertPublisherFromEnv, type AlertPublisher } from './alerts.js';
import { systemClock, type Clock } from './clock.js';
import { kindsFromEnv, type KindConfig } from './config/kinds.js';
import { settingsFromEnv, type Settings } from './config/settings.js';
import type { InstanceRuntime } from './instances/port.js';
import { createLogger, type Logger } from './log.js';
import { createOrchestration, type Orchestration } from './orchestration/index.js';
import { openStore } from './store/open.js';
import type { NodeStore } from './store/port.js';

export interface App {
  readonly store: NodeStore;
  readonly orchestrator: Orchestration;
  readonly kinds: readonly KindConfig[];
  readonly settings: Settings;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly alerts: AlertPublisher;
  /** The instance runtime, created on first use (only reconcile needs it). */
  runtime(): Promise<InstanceRuntime>;
  close(): Promise<void>;
}

export interface AppParts {
  store?: NodeStore;
  kinds?: readonly KindConfig[];
  settings?: Settings;
  runtime?: InstanceRuntime | (() => Promise<InstanceRuntime>);
  clock?: Clock;
  logger?: Logger;
  alerts?: AlertPublisher;
}

export async function createApp(env: NodeJS.ProcessEnv = process.env, parts: AppParts = {}): Promise<App> {
  const kinds = parts.kinds ?? kindsFromEnv(env);
  const settings = parts.settings ?? settingsFromEnv(env);
  const clock = parts.clock ?? systemClock;
  const logger = parts.logger ?? createLogger({ env });
  const alerts = parts.alerts ?? alertPublisherFromEnv(env, logger.child({ component: 'alerts' }));
  const store = parts.store ?? (await openStore(env));
  const orchestrator = createOrchestration({
    store,
    kinds,
    settings,
    clock,
    logger,
    alerts,
    root: env.ZK_ROOT || undefined,
    stateRoot: env.ZK_STATE_ROOT || undefined,
  });
  let runtime: Promise<InstanceRuntime> | undefined;
  const runtimeFactory =
    typeof parts.runtime === 'function'
      ? parts.runtime
      : parts.runtime
        ? async () => parts.runtime as InstanceRuntime
        : () => runtimeFromEnv(env);
  return {
    store,
    orchestrator,
    kinds,
    settings,
    clock,
    logger,
    alerts,
    runtime: () => (runtime ??= runtimeFactory()),
    async close() {
      if (runtime) await (await runtime).close();
      await alerts.close();
      await store.close();
    },
  };
}

/**
 * Kubernetes when a cluster is configured (`EKS_CLUSTER_NAME` or `K8S_SERVER`),
 * else local processes of the reference worker. Imported lazily so a handler
 * that never reconciles never loads either.
 */
export async function runtimeFromEnv(env: NodeJS.ProcessEnv): Promise<InstanceRuntime> {
  const wanted = env.ORCH_RUNTIME ?? (env.EKS_CLUSTER_NAME || env.K8S_SERVER ? 'kubernetes' : 'processes');
  if (wanted === 'kubernetes') {
    const { kubernetesRuntimeFromEnv } = await import('./instances/kubernetes.js');
    return kubernetesRuntimeFromEnv(env);
  }
  if (wanted === 'processes') {
    const { processRuntimeFromEnv } = await import('./local/process-runtime-config.js');
    return processRuntimeFromEnv(env);
  }
  throw new Error(`ORCH_RUNTIME must be "kubernetes" or "processes", got ${JSON.stringify(wanted)}`);
}

let shared: Promise<App> | undefined;

/** One App per Lambda container; a failed start is not cached, so the next invocation retries. */
export function sharedApp(): Promise<App> {
  shared ??= createApp().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}
