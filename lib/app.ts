/**
 * The composition root: builds the adapters from the environment once and
 * hands them to the use cases. The App owns every shared part (clock, logger,
 * alert publisher, store, runtime); nothing in lib/ keeps a process-global.
 * Lambda handlers share one App per container (`sharedApp`), created on first
 * invocation, never at import time; tests and the local runtime build their
 * own with `createApp` and injected parts.
 *
 * The instance runtime is always injected: this module never imports an
 * adapter of lib/instances, so the bundles of the functions that do not drive
 * instances carry no Kubernetes adapter. functions/reconcile.ts and the local
 * system pass `runtimeFromEnv` (lib/instances/runtime-from-env.ts).
 */
import type { AlertPublisher } from './alerts.js';
import { systemClock, type Clock } from './clock.js';
import { type ConsoleSignIn, consoleSignInFromEnv } from './config/console.js';
import { kindsFromEnv, type KindConfig } from './config/kinds.js';
import { settingsFromEnv, type Settings } from './config/settings.js';
import type { InstanceRuntime } from './instances/port.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { AlertOutbox, OutboxAlertPublisher } from './orchestration/alert-outbox.js';
import { createOrchestration, type Orchestration } from './orchestration/index.js';
import { Layout } from './orchestration/layout.js';
import { type SecretReader, secretReaderFromEnv } from './secrets.js';
import { openStore } from './store/open.js';
import type { NodeStore } from './store/port.js';

export interface App {
  readonly store: NodeStore;
  readonly orchestrator: Orchestration;
  readonly kinds: readonly KindConfig[];
  readonly settings: Settings;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the App's alerts go: by default logged and kept in the store's outbox. */
  readonly alerts: AlertPublisher;
  readonly alertOutbox: AlertOutbox;
  /** Where the outbox is forwarded (Kafka), when the entry point gave one: the alerts function, `npm start`. */
  readonly alertForwarder: AlertPublisher | undefined;
  /** The secrets named by reference (ZK_AUTH_SECRET, CATALOG_PASSWORD_SECRET), each read once. */
  readonly secrets: SecretReader;
  /** How people sign in to the console (CONSOLE_OIDC_*); undefined: no sign-in (loopback only). */
  readonly consoleSignIn: ConsoleSignIn | undefined;
  /**
   * The instance runtime of `AppParts.runtime`, created on first use (only reconcile needs it);
   * rejects when the App was given none.
   */
  runtime(): Promise<InstanceRuntime>;
  close(): Promise<void>;
}

export interface AppParts {
  store?: NodeStore;
  kinds?: readonly KindConfig[];
  settings?: Settings;
  /** A runtime, or its factory (called once, on first use). None: `App.runtime()` rejects. */
  runtime?: InstanceRuntime | (() => Promise<InstanceRuntime>);
  clock?: Clock;
  logger?: Logger;
  alerts?: AlertPublisher;
  /** Default: Secrets Manager as `env` configures it (a Lambda's own region and credentials). */
  secrets?: SecretReader;
  /**
   * Where stored alerts are forwarded (e.g. `kafkaAlertsFromEnv` of lib/alerts-kafka.ts); only the entry
   * points that forward pass it (functions/alerts.ts, the local system), so the others' bundles carry no Kafka client.
   */
  alertForwarder?: (logger: Logger) => AlertPublisher | undefined;
  /** Where the App's alerts are counted by type (AlertsRaised, EMF): the Lambda functions' stdout. None: not counted. */
  alertMetrics?: Metrics;
}

export async function createApp(env: NodeJS.ProcessEnv = process.env, parts: AppParts = {}): Promise<App> {
  const kinds = parts.kinds ?? kindsFromEnv(env);
  const settings = parts.settings ?? settingsFromEnv(env);
  const consoleSignIn = consoleSignInFromEnv(env);
  const clock = parts.clock ?? systemClock;
  const logger = parts.logger ?? createLogger({ env });
  const secrets = parts.secrets ?? secretReaderFromEnv(env);
  // Secrets first: the ZooKeeper session authenticates as it opens.
  const store = parts.store ?? (await openStore(env, secrets));
  const alertLogger = logger.child({ component: 'alerts' });
  const alertOutbox = new AlertOutbox(store, new Layout(env.ZK_ROOT || undefined, env.ZK_STATE_ROOT || undefined));
  const alerts = parts.alerts ?? new OutboxAlertPublisher(alertOutbox, alertLogger, parts.alertMetrics);
  const alertForwarder = parts.alertForwarder?.(alertLogger);
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
  const given = parts.runtime;
  const runtimeFactory =
    typeof given === 'function'
      ? given
      : given
        ? async () => given
        : async (): Promise<never> => {
            throw new Error('this App has no instance runtime: pass AppParts.runtime (e.g. runtimeFromEnv)');
          };
  return {
    store,
    orchestrator,
    kinds,
    settings,
    clock,
    logger,
    alerts,
    alertOutbox,
    alertForwarder,
    secrets,
    consoleSignIn,
    runtime: () => (runtime ??= runtimeFactory()),
    async close() {
      // A runtime that could not be created has nothing to close (its error went to runtime()'s caller).
      const opened = await runtime?.catch(() => undefined);
      if (opened) await opened.close();
      await alerts.close();
      await alertForwarder?.close();
      await store.close();
    },
  };
}

let shared: Promise<App> | undefined;
/**
 * The container's secrets, kept across failed starts: a start that read a secret and then could not
 * connect does not read it again.
 */
let containerSecrets: SecretReader | undefined;

/**
 * One App per Lambda container, from `process.env` and the entry point's `parts` (a container runs
 * one function, so every call passes the same); a failed start is not cached, so the next invocation retries.
 */
export function sharedApp(parts: AppParts = {}): Promise<App> {
  containerSecrets ??= secretReaderFromEnv(process.env);
  shared ??= createApp(process.env, { secrets: containerSecrets, ...parts }).catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}
