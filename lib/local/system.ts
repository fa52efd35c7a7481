/**
 * The whole system in one process, for `npm start`: the store, an MQTT
 * broker, the cm/notify and HeartBeat consumers, the HTTP API and dashboard,
 * the reconcile loop and the worker processes it supervises. Every piece
 * calls the same handlers and use cases the Lambda functions call; only the
 * transports are local.
 */
import { systemClock } from '../clock.js';
import { hostname } from 'node:os';
import { kafkaAlertsFromEnv } from '../alerts-kafka.js';
import { openPostgresCatalog } from '../catalog/postgres.js';
import { catalogConfigFromEnv, catalogPassword } from '../catalog/port.js';
import { catalogEveryMsFromEnv, runDueCatalogPasses } from '../catalog/run.js';
import { createApp, type App } from '../app.js';
import { runtimeFromEnv } from '../instances/runtime-from-env.js';
import { decodeHeartbeat, handleHeartbeatRecords, type HeartbeatRecordInput } from '../handlers/heartbeat.js';
import { handleHttp } from '../handlers/http.js';
import { handleNotifyBatch, type NotifyBatchResult } from '../handlers/notify-batch.js';
import type { InstanceRuntime } from '../instances/port.js';
import { ProcessRuntime } from '../instances/processes.js';
import { createLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { reconcile } from '../reconcile/reconcile.js';
import { redactUrl } from '../redact.js';
import { consoleAuthorizer } from './auth.js';
import { Batcher } from './batcher.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import type { LocalConfig } from './config.js';
import type { LocalConsole } from './console.js';
import { startHttpServer, type LocalHttpServer } from './http-server.js';
import { Inbox, InboxConsumer, type InboxEntry } from './inbox.js';
import { startKafkaHeartbeats, type KafkaHeartbeatConsumer } from './kafka-consumer.js';
import { HEARTBEAT_TOPIC, NOTIFY_TOPIC, startMqttConsumer, type MqttConsumer } from './mqtt-consumer.js';
import { processRuntimeOptionsFromEnv } from './process-runtime-config.js';
import {
  describeCatalogPass,
  describeNotify,
  describeOrchestrateResponse,
  describeReconcile,
  plural,
  type ReconcileNarration,
} from './narrate.js';
import { startLoop, type Loop } from './reconcile-loop.js';

export { describeNotify, describeOrchestrateResponse, describeReconcile } from './narrate.js';

export interface LocalSystem {
  readonly app: App;
  readonly urls: { readonly dashboard: string; readonly api: string; readonly mqtt: string };
  readonly mqttEmbedded: boolean;
  readonly runtime: InstanceRuntime;
  /**
   * Stops everything in reverse order of start; idempotent. With the embedded broker, the broker stops first and
   * what it acknowledged is applied for at most `inboxDrainMs`; the rest stays in the inbox for the next start.
   */
  stop(): Promise<void>;
}

/** Heartbeats are stored in batches: at most every this often, or at once when many wait. */
export const HEARTBEAT_FLUSH_MS = 200;
const HEARTBEAT_MAX_BATCH = 500;
/** Tries of a cm/notify message from an external broker while the store is down, before it is dropped (error line). */
const NOTIFY_ATTEMPTS = 4;
/** Inbox entries applied at once: a cm/notify batch as large as the notify Lambda's SQS batch. */
const INBOX_PAGE_SIZE = 100;
/** How often npm start looks for a due or requested catalog pass (the function runs every minute). */
const CATALOG_LOOP_MS = 15_000;

/** Lambda's metrics are EMF lines on stdout; locally the console lines say the same, so these go nowhere. */
const discardedMetrics = (): Metrics => new Metrics('IotaOrchestrator', {}, () => undefined);

const isProcessesRuntime = (env: NodeJS.ProcessEnv): boolean =>
  (env.ORCH_RUNTIME ?? (env.EKS_CLUSTER_NAME || env.K8S_SERVER ? 'kubernetes' : 'processes')) === 'processes';

/**
 * Stops every local worker of this data directory, including those a previous
 * run left behind (adopted from their state files): `npm start` owns them all,
 * and Ctrl-C must leave nothing running.
 */
async function stopAllWorkers(app: App, runtime: ProcessRuntime, graceMs: number): Promise<void> {
  // The workers this process started first (SIGTERM, SIGKILL after the grace period), then any left from a previous run.
  await runtime.stopAll();
  for (const kind of app.kinds) {
    for (const pod of await runtime.list(kind))
      if (!pod.terminating) await runtime.delete(kind, pod.name).catch(() => undefined);
  }
  // delete() signalled the adopted ones; list() removes their state once they are gone and kills laggards.
  const deadline = systemClock() + graceMs + 2000;
  for (;;) {
    const left = (await Promise.all(app.kinds.map((kind) => runtime.list(kind)))).flat();
    if (left.length === 0 || systemClock() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface LocalSystemOptions {
  /**
   * Level of the components' own structured logs. The console lines already
   * narrate every assignment and recycle, so by default the components only
   * speak up for warnings; an explicit LOG_LEVEL brings their logs back.
   */
  readonly componentLogLevel?: string;
}

export async function startLocalSystem(
  config: LocalConfig,
  out: LocalConsole,
  options: LocalSystemOptions = {},
): Promise<LocalSystem> {
  const env = config.env;
  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    while (cleanups.length > 0) {
      const cleanup = cleanups.pop()!;
      await cleanup().catch((error: unknown) => out.event('error', `shutdown: ${(error as Error).message}`));
    }
  };

  try {
    // The broker first: its URL is what the workers are given.
    let broker: EmbeddedBroker | undefined;
    let inbox: Inbox | undefined;
    let mqttUrl: string;
    if (config.mqtt.embedded) {
      // What the orchestrator consumes is on disk before the broker acknowledges it (inbox.ts).
      const durableInbox = Inbox.open(config.dataDir);
      inbox = durableInbox;
      cleanups.push(async () => durableInbox.close());
      const topics = new Set(config.kafka ? [NOTIFY_TOPIC] : [NOTIFY_TOPIC, HEARTBEAT_TOPIC]);
      broker = await startEmbeddedBroker(config.mqtt.port, { durable: { inbox: durableInbox, topics } });
      cleanups.push(() => broker!.close());
      mqttUrl = broker.url;
      env.MQTT_URL = mqttUrl;
    } else {
      mqttUrl = config.mqtt.url;
    }

    const processes = isProcessesRuntime(env)
      ? new ProcessRuntime(processRuntimeOptionsFromEnv(env, { stopOnClose: true }))
      : undefined;
    const runtime: InstanceRuntime = processes ?? (await runtimeFromEnv(env));
    const componentLogger = createLogger({
      env,
      level: options.componentLogLevel,
      bindings: { component: 'app' },
      destination: out.logDestination,
    });
    const app = await createApp(env, {
      runtime,
      logger: componentLogger,
      alertForwarder: (logger) => kafkaAlertsFromEnv(env, logger),
    });
    cleanups.push(() => app.close());
    await app.orchestrator.ping();
    // Created now (not on first reconcile) so that app.close() closes it whatever happens.
    await app.runtime();
    if (processes) cleanups.push(() => stopAllWorkers(app, processes, 5000));

    // Declared before the consumers so they can kick it; started last, once all it needs is up.
    const reconcileState: ReconcileNarration = { held: new Map() };
    let loop: Loop | undefined;
    const kick = (): void => loop?.kick();

    /* ---------------------------------------------------- heartbeats */
    const heartbeats = new Batcher<HeartbeatRecordInput>({
      flushEveryMs: HEARTBEAT_FLUSH_MS,
      maxBatch: HEARTBEAT_MAX_BATCH,
      flush: async (records) => {
        await handleHeartbeatRecords(app, records, discardedMetrics(), { encoding: 'json' });
      },
      onError: (error, records) =>
        out.event('error', `${plural(records.length, 'heartbeat')} not stored: ${(error as Error).message}`),
    });
    cleanups.push(() => heartbeats.close());
    // One line when an instance is heard from a new pod: "the replacement is alive".
    const lastPod = new Map<string, string>();
    const noteHeartbeat = (value: string): void => {
      const beat = decodeHeartbeat(value, 'json');
      if (!beat.ok || typeof beat.extra.podName !== 'string') return;
      const key = `${beat.resource}/${beat.instanceId}`;
      if (lastPod.get(key) === beat.extra.podName) return;
      lastPod.set(key, beat.extra.podName);
      out.event('info', `${beat.resource} instance ${beat.instanceId}: first heartbeat from ${beat.extra.podName}`, {
        resource: beat.resource,
        instanceId: beat.instanceId,
        pod: beat.extra.podName,
      });
    };
    const acceptHeartbeat = (record: HeartbeatRecordInput): void => {
      noteHeartbeat(record.value);
      heartbeats.add(record);
    };

    /* ----------------------------------------------------- cm/notify */
    // The same batch path as the notify Lambda.
    const reportNotify = (result: NotifyBatchResult): void => {
      describeNotify(result, out);
      if (result.kinds.some((kind) => kind.createdInstances.length > 0)) kick();
    };
    let inboxConsumer: InboxConsumer | undefined;
    if (inbox) {
      /** Applies a page of the inbox; resolves with the entries whose store work failed, to be retried. */
      const applyInboxPage = async (entries: readonly InboxEntry[]): Promise<InboxEntry[]> => {
        const left: InboxEntry[] = [];
        const beats = entries.filter((entry) => entry.topic === HEARTBEAT_TOPIC);
        if (beats.length > 0) {
          const records = beats.map((entry) => ({
            value: entry.payload.toString('utf8'),
            timestamp: entry.receivedAt,
            topic: HEARTBEAT_TOPIC,
          }));
          try {
            await handleHeartbeatRecords(app, records, discardedMetrics(), { encoding: 'json' });
            for (const record of records) noteHeartbeat(record.value);
          } catch (error) {
            out.event('error', `${plural(beats.length, 'heartbeat')} not stored: ${(error as Error).message}`);
            left.push(...beats);
          }
        }
        const notices = entries.filter((entry) => entry.topic === NOTIFY_TOPIC);
        if (notices.length > 0) {
          const records = notices.map((entry) => ({ id: String(entry.seq), payload: entry.payload }));
          const result = await handleNotifyBatch(app, records, discardedMetrics());
          reportNotify(result);
          const failed = new Set(result.failed);
          left.push(...notices.filter((entry) => failed.has(String(entry.seq))));
        }
        return left.sort((a, b) => a.seq - b.seq);
      };
      const backlog = inbox.size;
      if (backlog > 0)
        out.event('info', `${plural(backlog, 'MQTT message')} left in the inbox by the last run: applying them first`);
      // Idle, a heartbeat waits a flush period for company, as the batcher does with Kafka's; cm/notify goes at once.
      const consumer = new InboxConsumer({
        inbox,
        pageSize: INBOX_PAGE_SIZE,
        gatherMs: (topic) => (topic === HEARTBEAT_TOPIC ? HEARTBEAT_FLUSH_MS : 0),
        apply: applyInboxPage,
        onRetry: (entries, attempt, delayMs) =>
          out.event(
            'error',
            `${plural(entries.length, 'MQTT message')} not applied (attempt ${attempt}): ` +
              `kept in the inbox, retried in ${delayMs} ms`,
          ),
        onError: (error) => out.event('error', `MQTT inbox: ${error instanceof Error ? error.message : String(error)}`),
      });
      inboxConsumer = consumer;
      cleanups.push(() => consumer.stop());
    } else {
      // mqtt.js hands over one QoS 1 message at a time and acknowledges it once this returns, so a batch is one
      // message; a kind that failed is retried here, as SQS would redeliver.
      let notifySequence = 0;
      const onNotify = async (payload: Buffer): Promise<void> => {
        const record = { id: `mqtt-${++notifySequence}`, payload };
        for (let attempt = 1; ; attempt++) {
          const result = await handleNotifyBatch(app, [record], discardedMetrics());
          if (result.failed.length === 0 || attempt >= NOTIFY_ATTEMPTS) {
            reportNotify(result);
            if (result.failed.length > 0)
              out.event('error', `cm/notify message not applied after ${plural(attempt, 'attempt')}`, {
                payload: payload.toString('utf8').slice(0, 200),
              });
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
        }
      };
      const consumer: MqttConsumer = await startMqttConsumer({
        url: mqttUrl,
        clientId: `iota-orchestrator-${hostname()}-${config.httpPort}`.slice(0, 128),
        onNotify,
        onHeartbeat: config.kafka
          ? undefined
          : (payload, receivedAt) =>
              acceptHeartbeat({ value: payload.toString('utf8'), timestamp: receivedAt, topic: HEARTBEAT_TOPIC }),
      });
      cleanups.push(() => consumer.close());
    }

    let kafka: KafkaHeartbeatConsumer | undefined;
    if (config.kafka) {
      kafka = await startKafkaHeartbeats({
        brokers: config.kafka.brokers,
        groupId: config.kafka.groupId,
        onRecord: acceptHeartbeat,
      });
      cleanups.push(() => kafka!.close());
    }

    /* ---------------------------------------------------------- HTTP */
    // The console's routes take a signed-in person's JWT, as the deployed JWT authorizer does (lib/local/auth.ts).
    const authorize = consoleAuthorizer(app.consoleSignIn, app.clock);
    const http: LocalHttpServer = await startHttpServer(
      async (request) => {
        const authorized = await authorize(request);
        if ('refusal' in authorized) return authorized.refusal;
        const { event } = authorized;
        const response = await handleHttp(app, event);
        if (event.requestContext.http.method === 'POST') {
          const orchestrated = /^(?:\/console)?\/v1\/api\/orchestrations\/([^/]+)\/orchestrate$/.exec(event.rawPath);
          if (orchestrated)
            describeOrchestrateResponse(orchestrated[1]!, response.statusCode ?? 200, response.body, out);
          // New instances get their workers now, not at the next tick.
          if (response.statusCode === 200 && /\/(orchestrate|resources)$/.test(event.rawPath)) kick();
        }
        return response;
      },
      {
        port: config.httpPort,
        onError: (error, event) =>
          out.event('error', `${event.requestContext.http.method} ${event.rawPath}: ${(error as Error).message}`),
      },
    );
    cleanups.push(() => http.close());

    /* ----------------------------------------------------- reconcile */
    // Stable across restarts (and unique per host, as the port is): an npm start that crashed holding
    // the lease is succeeded by the next one at once instead of after the lease's TTL.
    const holder = `npm-start/${hostname()}:${http.port}`;
    loop = startLoop(
      async () => describeReconcile(await reconcile(app, { holder, metrics: discardedMetrics() }), out, reconcileState),
      config.reconcileIntervalMs,
      (error) => out.event('error', `reconcile failed: ${(error as Error).message}`),
    );
    const runningLoop = loop;
    cleanups.push(() => runningLoop.stop());

    /* ----------------------------------------------------- catalog */
    // The same passes as the catalog function, when the platform's catalog is configured.
    const catalogConfig = catalogConfigFromEnv(app.kinds, env);
    if (catalogConfig) {
      const catalog = openPostgresCatalog(catalogConfig, await catalogPassword(catalogConfig, app.secrets));
      cleanups.push(() => catalog.close());
      const everyMs = catalogEveryMsFromEnv(env);
      const catalogLoop = startLoop(
        async () => {
          const run = await runDueCatalogPasses(app, catalog, { everyMs, holder, metrics: discardedMetrics() });
          for (const pass of run.passes) describeCatalogPass(pass, out);
          for (const failure of run.failed)
            out.event('error', `${failure.resource}  catalog pass failed: ${failure.error}`, {
              resource: failure.resource,
            });
        },
        CATALOG_LOOP_MS,
        (error) => out.event('error', `catalog pass failed: ${(error as Error).message}`),
      );
      cleanups.push(() => catalogLoop.stop());
    } else {
      out.event('info', 'catalog check off: CATALOG_URL is not set');
    }

    const stop = async (): Promise<void> => {
      try {
        if (broker && inboxConsumer) {
          // Nothing is acknowledged from here on; what was is applied for a bounded time, the rest stays on disk.
          await broker.close();
          const drained = await inboxConsumer.drain(config.inboxDrainMs);
          out.event(
            drained.left > 0 ? 'warn' : 'info',
            `applied ${plural(drained.applied, 'MQTT message')} from the inbox` +
              (drained.left > 0 ? `; ${drained.left} left for the next start` : ''),
            { applied: drained.applied, left: drained.left },
          );
        }
      } finally {
        await stopAll();
      }
    };
    let stopping: Promise<void> | undefined;
    return {
      app,
      runtime,
      mqttEmbedded: broker !== undefined,
      // The banner prints these: a broker URL's password stays out of the console.
      urls: {
        dashboard: `${http.url}/`,
        api: `${http.url}/v1/api/orchestrations/{resource}`,
        mqtt: redactUrl(mqttUrl),
      },
      stop: () => (stopping ??= stop()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
