/**
 * Alerts the orchestrator raises on its own: the heartbeat pipeline looks
 * down (fleet silent), more instances are silent than one run may recycle
 * (recycle storm), a kind is full at its maximum (capacity exhausted), the
 * autoscaler is at its maximum and still hot (scale limit) or has no metrics
 * to scale on (metrics missing), the instance runtime is at its pod limit
 * (pod limit). Every publisher logs each alert; with `KAFKA_BROKERS` set
 * they also go to the platform's Kafka topic `Alert` (SPEC §6).
 *
 * Wire format on `Alert` (one JSON message per alert, key
 * `iota-orchestrator/<type>/<resource>` so one kind's alerts stay ordered on
 * one partition). The platform's alert schema is not part of our contract, so
 * the message is self-describing: a consumer needs only `source`, `type`,
 * `level`, `content` and `time`; `detail` is the alert exactly as raised.
 * ```json
 * {
 *   "source": "iota-orchestrator",
 *   "type": "fleet-silent",
 *   "level": "critical",
 *   "resource": "Thing",
 *   "title": "Thing workers silent",
 *   "content": "7 of 10 Thing instances sent no heartbeat within the timeout at once; none recycled: the heartbeat pipeline is suspected",
 *   "time": "2024-05-01T08:00:00.000Z",
 *   "detail": {"type":"fleet-silent","resource":"Thing","stale":7,"total":10,"at":1714550400000,"instances":["0","1","2","3","4","5","6"]}
 * }
 * ```
 * A failure to publish is logged and reported in the outcome; it never
 * throws, so the reconcile loop is never stopped by Kafka.
 */
import { silentLogger, type Logger } from './log.js';

/** More than the allowed fraction of a kind's instances are silent together: suspect the pipeline, not the pods. */
export interface FleetSilentAlert {
  readonly type: 'fleet-silent';
  readonly resource: string;
  readonly stale: number;
  readonly total: number;
  readonly at: number;
  readonly instances: readonly string[];
}

/** More instances are silent than one run may recycle; the rest wait for the next runs. */
export interface RecycleStormAlert {
  readonly type: 'recycle-storm';
  readonly resource: string;
  readonly silent: number;
  readonly recycled: number;
  readonly limit: number;
  readonly at: number;
  readonly deferred: readonly string[];
}

/** A resource found every instance full at the kind's maximum: it is kept pending until there is room. Raised once per episode. */
export interface CapacityExhaustedAlert {
  readonly type: 'capacity-exhausted';
  readonly resource: string;
  readonly maxInstances: number;
  readonly resourcePerInstance: number;
  /** Resources that found no room when the alert was raised. */
  readonly pending: number;
  readonly at: number;
}

/** At `maxInstances` and the load still asks for more. */
export interface ScaleLimitAlert {
  readonly type: 'scale-limit';
  readonly resource: string;
  readonly maxInstances: number;
  readonly recommended: number;
  readonly at: number;
}

/** More than half of the ready instances report no value for a metric: no scaling on guesses. */
export interface MetricsMissingAlert {
  readonly type: 'metrics-missing';
  readonly resource: string;
  readonly metric: 'cpu' | 'memory';
  readonly missing: number;
  readonly ready: number;
  readonly at: number;
  /** The ready pods without the metric (instances without a pod entry have no id to list). */
  readonly instances: readonly string[];
}

/** A catalog pass would remove more than the allowed share of a kind's resources: it removed none. */
export interface CatalogMassRemovalAlert {
  readonly type: 'catalog-mass-removal';
  readonly resource: string;
  readonly wouldRemove: number;
  readonly assigned: number;
  readonly maxRemoveFraction: number;
  readonly at: number;
}

/**
 * The instance runtime's own pod limit (the local runtime's process cap) was met: an orchestrate
 * asking for more instances than fit was refused (HTTP 409), or reconcile could not start pods.
 */
export interface PodLimitAlert {
  readonly type: 'pod-limit';
  readonly resource: string;
  readonly refused: 'orchestrate' | 'create';
  readonly limit: number;
  /** The setting that raises the limit. */
  readonly setting: string;
  /** 'orchestrate': the pods (every kind) it would have needed; 'create': the pods running at the refusal. */
  readonly pods: number;
  /** Instances left without a pod ('create'). */
  readonly instances: readonly string[];
  readonly at: number;
}

export type OrchestratorAlert =
  | CatalogMassRemovalAlert
  | PodLimitAlert
  | FleetSilentAlert
  | RecycleStormAlert
  | CapacityExhaustedAlert
  | ScaleLimitAlert
  | MetricsMissingAlert;

export interface PublishOutcome {
  /** Alerts written to the log (always all of them). */
  readonly logged: number;
  /** Alerts acknowledged by Kafka. */
  readonly delivered: number;
  readonly failed: number;
  readonly error?: string | undefined;
}

export interface AlertPublisher {
  readonly description: string;
  /** Never rejects: a delivery failure is logged and counted in the outcome. */
  publish(alerts: readonly OrchestratorAlert[]): Promise<PublishOutcome>;
  close(): Promise<void>;
}

export const ALERT_SOURCE = 'iota-orchestrator';
export const DEFAULT_ALERT_TOPIC = 'Alert';

export interface AlertMessage {
  readonly source: typeof ALERT_SOURCE;
  readonly type: OrchestratorAlert['type'];
  readonly level: 'warning' | 'critical';
  readonly resource: string;
  readonly title: string;
  readonly content: string;
  /** ISO 8601 time the alert was raised. */
  readonly time: string;
  readonly detail: OrchestratorAlert;
}

/** The message published for an alert (see the wire format above). */
export function alertMessage(alert: OrchestratorAlert): AlertMessage {
  const base = {
    source: ALERT_SOURCE,
    type: alert.type,
    resource: alert.resource,
    time: new Date(alert.at).toISOString(),
    detail: alert,
  } as const;
  switch (alert.type) {
    case 'fleet-silent':
      return {
        ...base,
        level: 'critical',
        title: `${alert.resource} workers silent`,
        content:
          `${alert.stale} of ${alert.total} ${alert.resource} instances sent no heartbeat within the timeout at once; ` +
          'none recycled: the heartbeat pipeline is suspected',
      };
    case 'recycle-storm':
      return {
        ...base,
        level: 'warning',
        title: `${alert.resource} recycle storm`,
        content:
          `${alert.silent} ${alert.resource} instances are silent; ${alert.recycled} recycled this run (limit ${alert.limit}), ` +
          `${alert.deferred.length} deferred to the next runs`,
      };
    case 'capacity-exhausted':
      return {
        ...base,
        level: 'critical',
        title: `${alert.resource} capacity exhausted`,
        content:
          `every ${alert.resource} instance is full (${alert.resourcePerInstance} each) at the maximum of ${alert.maxInstances} instances; ` +
          `${alert.pending} resources kept pending until there is room`,
      };
    case 'scale-limit':
      return {
        ...base,
        level: 'warning',
        title: `${alert.resource} at its scaling maximum`,
        content:
          `${alert.resource} workers are still above their target at maxInstances ${alert.maxInstances}; ` +
          `the load asks for ${alert.recommended}: raise scaling.maxInstances or the container requests`,
      };
    case 'catalog-mass-removal':
      return {
        ...base,
        level: 'critical',
        title: `${alert.resource} catalog check held back`,
        content:
          `the catalog lacks ${alert.wouldRemove} of ${alert.assigned} assigned ${alert.resource} resources, above ${alert.maxRemoveFraction * 100}%: ` +
          'none removed (is the catalog table empty or the wrong one?)',
      };
    case 'pod-limit':
      return {
        ...base,
        level: 'warning',
        title: `${alert.resource} pods over the runtime's limit`,
        content:
          alert.refused === 'orchestrate'
            ? `an orchestrate of ${alert.resource} was refused: it needed ${alert.pods} pods of every kind, ` +
              `the runtime runs at most ${alert.limit} (${alert.setting})`
            : `the runtime runs ${alert.pods} pods, its limit (${alert.setting}=${alert.limit}); ` +
              `${alert.instances.length} ${alert.resource} instances wait for a pod`,
      };
    case 'metrics-missing':
      return {
        ...base,
        level: 'warning',
        title: `${alert.resource} scaling metrics missing`,
        content:
          `${alert.missing} of ${alert.ready} ready ${alert.resource} instances report no ${alert.metric} usage; ` +
          'scaling holds until they do (is the metrics API up?)',
      };
  }
}

export const alertKey = (alert: OrchestratorAlert): string => `${ALERT_SOURCE}/${alert.type}/${alert.resource}`;

/** Logs every alert at warn level; the default when Kafka is not configured. */
export class LogAlertPublisher implements AlertPublisher {
  readonly description = 'log only';
  constructor(private readonly logger: Logger) {}

  async publish(alerts: readonly OrchestratorAlert[]): Promise<PublishOutcome> {
    for (const alert of alerts) {
      const message = alertMessage(alert);
      this.logger.warn({ alert: message }, `alert ${message.type}: ${message.content}`);
    }
    return { logged: alerts.length, delivered: 0, failed: 0 };
  }

  async close(): Promise<void> {}
}

/** Keeps alerts in memory (and logs them): for tests and the local runtime's dashboard. */
export class MemoryAlertPublisher implements AlertPublisher {
  readonly description = 'in memory';
  readonly alerts: OrchestratorAlert[] = [];
  private readonly log: LogAlertPublisher;
  constructor(logger: Logger = silentLogger()) {
    this.log = new LogAlertPublisher(logger);
  }

  async publish(alerts: readonly OrchestratorAlert[]): Promise<PublishOutcome> {
    const outcome = await this.log.publish(alerts);
    this.alerts.push(...alerts);
    return { ...outcome, delivered: alerts.length };
  }

  async close(): Promise<void> {}
}

/** The part of a kafkajs producer we use; lets tests and other clients stand in. */
export interface AlertProducer {
  connect(): Promise<void>;
  send(record: {
    topic: string;
    messages: Array<{ key: string; value: string }>;
    acks?: number;
    timeout?: number;
  }): Promise<unknown>;
  disconnect(): Promise<void>;
}

export interface KafkaAlertOptions {
  readonly producer: () => Promise<AlertProducer>;
  readonly topic?: string;
  readonly description?: string;
  readonly logger: Logger;
  /** Upper bound for connect + send, so a Kafka outage cannot eat the Lambda's time. Default 10 s. */
  readonly timeoutMs?: number;
}

/** Logs every alert and sends it to Kafka; connects on first use and reconnects after a failure. */
export class KafkaAlertPublisher implements AlertPublisher {
  readonly description: string;
  private readonly topic: string;
  private readonly logger: Logger;
  private readonly log: LogAlertPublisher;
  private readonly timeoutMs: number;
  private connected: Promise<AlertProducer> | undefined;

  constructor(private readonly options: KafkaAlertOptions) {
    this.topic = options.topic ?? DEFAULT_ALERT_TOPIC;
    this.logger = options.logger;
    this.log = new LogAlertPublisher(this.logger);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.description = options.description ?? `kafka topic ${this.topic}`;
  }

  async publish(alerts: readonly OrchestratorAlert[]): Promise<PublishOutcome> {
    const logged = await this.log.publish(alerts);
    if (alerts.length === 0) return logged;
    const messages = alerts.map((alert) => ({ key: alertKey(alert), value: JSON.stringify(alertMessage(alert)) }));
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no acknowledgement within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      await Promise.race([
        (async () => {
          const producer = await this.producer();
          await producer.send({ topic: this.topic, messages, acks: -1, timeout: this.timeoutMs });
        })(),
        deadline,
      ]);
      return { ...logged, delivered: alerts.length };
    } catch (error) {
      const message = (error as Error).message;
      // Drop the producer: the next publish connects afresh instead of reusing a broken one.
      const broken = this.connected;
      this.connected = undefined;
      void broken?.then((producer) => producer.disconnect()).catch(() => undefined);
      this.logger.error(
        { err: error, topic: this.topic, alerts: alerts.length },
        `alerts not published to Kafka: ${message}`,
      );
      return { ...logged, failed: alerts.length, error: message };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const connected = this.connected;
    this.connected = undefined;
    if (connected) await connected.then((producer) => producer.disconnect()).catch(() => undefined);
  }

  private producer(): Promise<AlertProducer> {
    this.connected ??= (async () => {
      const producer = await this.options.producer();
      await producer.connect();
      return producer;
    })();
    return this.connected;
  }
}
