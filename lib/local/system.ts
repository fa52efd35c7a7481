/**
 * The whole system in one process, for `npm start`: the store, an MQTT
 * broker, the cm/notify and HeartBeat consumers, the HTTP API and dashboard,
 * the reconcile loop and the worker processes it supervises. Every piece
 * calls the same handlers and use cases the Lambda functions call; only the
 * transports are local.
 */
import { systemClock } from '../clock.js';
import { hostname } from 'node:os';
import { alertMessage } from '../alerts.js';
import { createApp, runtimeFromEnv, type App } from '../app.js';
import { decodeHeartbeat, handleHeartbeatRecords, type HeartbeatRecordInput } from '../handlers/heartbeat.js';
import { handleHttp } from '../handlers/http.js';
import { handleNotifyMessage, type NotifyOutcome } from '../handlers/notify.js';
import type { InstanceRuntime } from '../instances/port.js';
import { ProcessRuntime } from '../instances/processes.js';
import { createLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { reconcile, type ReconcileReport } from '../reconcile/reconcile.js';
import { StoreUnavailableError } from '../store/port.js';
import { Batcher } from './batcher.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import type { LocalConfig } from './config.js';
import type { LocalConsole } from './console.js';
import { startHttpServer, type LocalHttpServer } from './http-server.js';
import { startKafkaHeartbeats, type KafkaHeartbeatConsumer } from './kafka-consumer.js';
import { startMqttConsumer, type MqttConsumer } from './mqtt-consumer.js';
import { processRuntimeOptionsFromEnv } from './process-runtime-config.js';
import { startLoop, type Loop } from './reconcile-loop.js';

export interface LocalSystem {
  readonly app: App;
  readonly urls: { readonly dashboard: string; readonly api: string; readonly mqtt: string };
  readonly mqttEmbedded: boolean;
  readonly runtime: InstanceRuntime;
  /** Stops everything in reverse order of start; idempotent. */
  stop(): Promise<void>;
}

/** Heartbeats are stored in batches: at most every this often, or at once when many wait. */
export const HEARTBEAT_FLUSH_MS = 200;
const HEARTBEAT_MAX_BATCH = 500;
/** A cm/notify message whose store is down is retried this many times before it is dropped with an error line. */
const NOTIFY_ATTEMPTS = 4;

/** Lambda's metrics are EMF lines on stdout; locally the console lines say the same, so these go nowhere. */
const discardedMetrics = (): Metrics => new Metrics('IotaOrchestrator', {}, () => undefined);

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const preview = (ids: readonly string[], max = 5): string =>
  ids.length <= max ? ids.join(', ') : `${ids.slice(0, max).join(', ')}, … (+${ids.length - max})`;

/** Groups placements by instance for one readable line: "t1, t2 → instance 0; t3 → instance 1". */
function byInstance(placements: ReadonlyArray<{ id: string; instanceId: string }>, link = '→'): string {
  const groups = new Map<string, string[]>();
  for (const { id, instanceId } of placements) groups.set(instanceId, [...(groups.get(instanceId) ?? []), id]);
  return [...groups].map(([instanceId, ids]) => `${preview(ids)} ${link} instance ${instanceId}`).join('; ');
}

export function describeNotify(outcome: NotifyOutcome, out: LocalConsole): void {
  switch (outcome.status) {
    case 'assigned': {
      const { assigned, alreadyAssigned, createdInstances } = outcome.result;
      const parts = [];
      if (assigned.length > 0) parts.push(`assigned ${byInstance(assigned)}`);
      if (alreadyAssigned.length > 0) parts.push(`${plural(alreadyAssigned.length, 'id')} already placed (redelivery)`);
      if (createdInstances.length > 0)
        parts.push(`new ${createdInstances.length === 1 ? 'instance' : 'instances'} ${createdInstances.join(', ')}`);
      out.event('assign', `${outcome.resource}  ${parts.join('; ')}`, {
        resource: outcome.resource,
        assigned,
        alreadyAssigned: alreadyAssigned.length,
        createdInstances,
      });
      return;
    }
    case 'unassigned': {
      const { removed, notAssigned } = outcome.result;
      const parts = [];
      if (removed.length > 0) parts.push(`removed ${byInstance(removed, 'from')}`);
      if (notAssigned.length > 0) parts.push(`${plural(notAssigned.length, 'id')} not assigned anywhere`);
      out.event('unassign', `${outcome.resource}  ${parts.join('; ')}`, {
        resource: outcome.resource,
        removed,
        notAssigned: notAssigned.length,
      });
      return;
    }
    case 'reloaded': {
      const reloaded = outcome.result.reloaded.map((r) => `instance ${r.instanceId} (_reload ${r.times})`).join(', ');
      const told = reloaded ? `told ${reloaded} to reload` : 'not assigned anywhere, nothing to reload';
      const extra =
        outcome.assigned && outcome.assigned.assigned.length > 0
          ? `; assigned ${byInstance(outcome.assigned.assigned)}`
          : '';
      out.event('reload', `${outcome.resource}  ${preview(outcome.ids)} changed: ${told}${extra}`, {
        resource: outcome.resource,
        via: outcome.via,
        reloaded: outcome.result.reloaded,
      });
      return;
    }
    case 'reconcile-needed':
      out.event('warn', `${outcome.resource}  cm/notify names no ids: ${outcome.reason}`, {
        resource: outcome.resource,
      });
      return;
    case 'malformed':
      out.event('warn', `cm/notify message dropped: ${outcome.reason}`, { field: outcome.field });
      return;
    case 'ignored':
      return;
  }
}

/** The lines a person wants from a reconcile run; a run that changed nothing prints nothing. */
export function describeReconcile(report: ReconcileReport, out: LocalConsole, state: { lastSkip?: string }): void {
  if (report.status === 'skipped') {
    const holder = report.skipped?.heldBy ?? 'another process';
    if (state.lastSkip !== holder) {
      const until = report.skipped ? new Date(report.skipped.until).toTimeString().slice(0, 8) : '?';
      out.event('hold', `reconcile skipped: lease held by ${holder} until ${until}`, { heldBy: holder });
    }
    state.lastSkip = holder;
    return;
  }
  state.lastSkip = undefined;
  for (const kind of report.kinds) {
    for (const action of kind.actions) {
      const who = `${kind.resource} instance ${action.instanceId}`;
      const fields = {
        resource: kind.resource,
        instanceId: action.instanceId,
        pod: action.pod,
        reason: action.reason,
        ok: action.ok,
      };
      if (!action.ok) {
        out.event('error', `${who}: ${action.type} ${action.pod} failed: ${action.error ?? 'unknown error'}`, {
          ...fields,
          error: action.error,
        });
        continue;
      }
      switch (action.type) {
        case 'create':
          out.event('create', `${who}: started ${action.pod} (${action.reason})`, fields);
          break;
        case 'replace':
          out.event('replace', `${who}: started ${action.pod} to replace a dead worker (${action.reason})`, fields);
          break;
        case 'recycle':
          out.event('recycle', `${who}: ${action.oldPod ?? '?'} → ${action.pod} (${action.reason})`, {
            ...fields,
            oldPod: action.oldPod,
          });
          break;
        case 'delete':
          out.event('delete', `${who}: stopping ${action.pod} (${action.reason})`, fields);
          break;
        case 'orphan':
          out.event(
            'orphan',
            `${kind.resource}: stopping ${action.pod}, its instance ${action.instanceId} no longer exists`,
            fields,
          );
          break;
        default: {
          const unknown: never = action.type;
          out.event('info', `${who}: ${String(unknown)} ${action.pod} (${action.reason})`, fields);
        }
      }
    }
    for (const held of kind.heldBack) {
      out.event('hold', `${kind.resource} instance ${held.instanceId}: not recycled (${held.reason})`, {
        resource: kind.resource,
        instanceId: held.instanceId,
        pod: held.pod,
      });
    }
  }
  for (const alert of report.alerts) {
    out.event('alert', `${alert.resource}: ${alertMessage(alert).content}`, { alert });
  }
  for (const error of report.errors) {
    out.event(
      'error',
      `${error.resource}${error.instanceId !== undefined ? ` instance ${error.instanceId}` : ''}: ${error.operation} failed: ${error.message}`,
      { ...error },
    );
  }
}

/** One line per Orchestrate call through the API, success or failure, like the legacy console's message. */
export function describeOrchestrateResponse(
  resource: string,
  statusCode: number,
  body: string | undefined,
  out: LocalConsole,
): void {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(body ?? '{}') as Record<string, unknown>;
  } catch {
    // Not JSON: reported by status alone.
  }
  if (statusCode === 200) {
    const after = Array.isArray(parsed.after) ? (parsed.after as Array<{ id: string }>) : [];
    out.event(
      'orchestrate',
      `${resource}  orchestrated: ${plural(Number(parsed.instances), 'instance')} × ${String(parsed.resourcePerInstance)}; ` +
        `moved ${String(parsed.moved)} (least possible ${String(parsed.minimumMoves)}); instances ${after.map((i) => i.id).join(', ') || 'none'}`,
      {
        resource,
        instances: parsed.instances,
        resourcePerInstance: parsed.resourcePerInstance,
        moved: parsed.moved,
        minimumMoves: parsed.minimumMoves,
      },
    );
  } else {
    out.event('warn', `${resource}  orchestrate refused (${statusCode}): ${String(parsed.message ?? 'no message')}`, {
      resource,
      statusCode,
      error: parsed.error,
    });
  }
}

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
    let mqttUrl: string;
    if (config.mqtt.embedded) {
      broker = await startEmbeddedBroker(config.mqtt.port);
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
    const componentLogger = createLogger({ env, level: options.componentLogLevel, bindings: { component: 'app' } });
    const app = await createApp(env, { runtime, logger: componentLogger });
    cleanups.push(() => app.close());
    await app.orchestrator.ping();
    // Created now (not on first reconcile) so that app.close() closes it whatever happens.
    await app.runtime();
    if (processes) cleanups.push(() => stopAllWorkers(app, processes, 5000));

    // Declared before the consumers so they can kick it; started last, once all it needs is up.
    const reconcileState: { lastSkip?: string } = {};
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
    const onNotify = async (payload: Buffer): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const outcome = await handleNotifyMessage(app, payload, discardedMetrics());
          describeNotify(outcome, out);
          if (outcome.status === 'assigned' && outcome.result.createdInstances.length > 0) kick();
          if (outcome.status === 'reloaded' && (outcome.assigned?.createdInstances.length ?? 0) > 0) kick();
          return;
        } catch (error) {
          if (
            attempt < NOTIFY_ATTEMPTS &&
            (error instanceof StoreUnavailableError || (error as { retryable?: unknown }).retryable === true)
          ) {
            await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
            continue;
          }
          out.event(
            'error',
            `cm/notify message not applied after ${plural(attempt, 'attempt')}: ${(error as Error).message}`,
            {
              payload: payload.toString('utf8').slice(0, 200),
            },
          );
          return;
        }
      }
    };
    const consumer: MqttConsumer = await startMqttConsumer({
      url: mqttUrl,
      clientId: `iota-orchestrator-${hostname()}-${config.httpPort}`.slice(0, 128),
      onNotify,
      onHeartbeat: config.kafka
        ? undefined
        : (payload, receivedAt) =>
            acceptHeartbeat({ value: payload.toString('utf8'), timestamp: receivedAt, topic: 'HeartBeat' }),
    });
    cleanups.push(() => consumer.close());

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
    const http: LocalHttpServer = await startHttpServer(
      async (event) => {
        const response = await handleHttp(app, event);
        if (event.requestContext.http.method === 'POST') {
          const orchestrated = /^\/v1\/api\/orchestrations\/([^/]+)\/orchestrate$/.exec(event.rawPath);
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

    let stopping: Promise<void> | undefined;
    return {
      app,
      runtime,
      mqttEmbedded: broker !== undefined,
      urls: { dashboard: `${http.url}/`, api: `${http.url}/v1/api/orchestrations/{resource}`, mqtt: mqttUrl },
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
