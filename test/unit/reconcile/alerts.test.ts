import { silentLogger } from '../../../lib/log.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import {
  alertMessage,
  KafkaAlertPublisher,
  LogAlertPublisher,
  type AlertProducer,
  type FleetSilentAlert,
  type PublishOutcome,
  type RecycleStormAlert,
} from '../../../lib/alerts.js';
import { kafkaAlertsFromEnv, kafkaSettingsFromEnv } from '../../../lib/alerts-kafka.js';

const AT = Date.UTC(2024, 4, 1, 8, 0, 0);
const FLEET_SILENT: FleetSilentAlert = {
  type: 'fleet-silent',
  resource: 'Thing',
  stale: 7,
  total: 10,
  at: AT,
  instances: ['0', '1', '2', '3', '4', '5', '6'],
};
const STORM: RecycleStormAlert = {
  type: 'recycle-storm',
  resource: 'Thing',
  silent: 5,
  recycled: 3,
  limit: 3,
  at: AT,
  deferred: ['3', '7'],
};

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Records what a kafkajs producer would have been asked to send; `fail` makes connect or send reject. */
class RecordingProducer implements AlertProducer {
  readonly sent: Array<{ topic: string; messages: Array<{ key: string; value: string }> }> = [];
  connects = 0;
  constructor(private readonly behaviour: { fail?: 'connect' | 'send'; hang?: boolean } = {}) {}
  async connect(): Promise<void> {
    this.connects++;
    if (this.behaviour.fail === 'connect') throw new Error('connect ECONNREFUSED 127.0.0.1:9092');
  }
  async send(record: { topic: string; messages: Array<{ key: string; value: string }> }): Promise<unknown> {
    if (this.behaviour.hang) return new Promise(() => undefined);
    if (this.behaviour.fail === 'send') throw new Error('This server does not host this topic-partition');
    this.sent.push(record);
    return [];
  }
  async disconnect(): Promise<void> {}
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('alert messages', () => {
  it('describes a silent fleet as a critical alert carrying the raised alert as detail', () => {
    expect(alertMessage(FLEET_SILENT)).toEqual({
      source: 'iota-orchestrator',
      type: 'fleet-silent',
      level: 'critical',
      resource: 'Thing',
      title: 'Thing workers silent',
      content:
        '7 of 10 Thing instances sent no heartbeat within the timeout at once; none recycled: the heartbeat pipeline is suspected',
      time: '2024-05-01T08:00:00.000Z',
      detail: FLEET_SILENT,
    });
  });

  it('describes a recycle storm as a warning naming how many were deferred', () => {
    expect(alertMessage(STORM)).toMatchObject({
      level: 'warning',
      title: 'Thing recycle storm',
      content: '5 Thing instances are silent; 3 recycled this run (limit 3), 2 deferred to the next runs',
    });
  });

  it('describes the autoscaler at its maximum, and metrics it cannot scale on, as warnings saying what to do', () => {
    const at = Date.UTC(2024, 4, 1, 8, 0, 0);
    expect(
      alertMessage({ type: 'scale-limit', resource: 'Thing', maxInstances: 10, recommended: 14, at }),
    ).toMatchObject({
      level: 'warning',
      title: 'Thing at its scaling maximum',
      content:
        'Thing workers are still above their target at maxInstances 10; the load asks for 14: raise scaling.maxInstances or the container requests',
    });
    expect(
      alertMessage({
        type: 'metrics-missing',
        resource: 'Thing',
        metric: 'cpu',
        missing: 3,
        ready: 4,
        at,
        instances: ['0', '1', '2'],
      }),
    ).toMatchObject({
      level: 'warning',
      content: '3 of 4 ready Thing instances report no cpu usage; scaling holds until they do (is the metrics API up?)',
    });
  });

  it('describes the runtime at its pod limit, for a refused orchestrate and for pods it could not start', () => {
    const limit = { type: 'pod-limit', resource: 'Thing', limit: 16, setting: 'LOCAL_MAX_PROCESSES', at: AT } as const;

    expect(alertMessage({ ...limit, refused: 'orchestrate', pods: 110, instances: [] })).toMatchObject({
      level: 'warning',
      title: "Thing pods over the runtime's limit",
      content:
        'an orchestrate of Thing was refused: it needed 110 pods of every kind, the runtime runs at most 16 (LOCAL_MAX_PROCESSES)',
    });
    expect(alertMessage({ ...limit, refused: 'create', pods: 16, instances: ['16', '17'] })).toMatchObject({
      content: 'the runtime runs 16 pods, its limit (LOCAL_MAX_PROCESSES=16); 2 Thing instances wait for a pod',
    });
  });
});

describe('LogAlertPublisher', () => {
  it('logs every alert at warn level with its message', async () => {
    const { logger, lines } = capturingLogger();

    const outcome = await new LogAlertPublisher(logger).publish([FLEET_SILENT, STORM]);

    await flush();
    expect(outcome).toEqual({ logged: 2, delivered: 0, failed: 0 });
    expect(lines.map((line) => [line.level, (line.alert as { type: string }).type])).toEqual([
      [40, 'fleet-silent'],
      [40, 'recycle-storm'],
    ]);
  });
});

describe('KafkaAlertPublisher', () => {
  it('sends one JSON message per alert to the Alert topic, keyed by source, type and resource', async () => {
    const producer = new RecordingProducer();
    const publisher = new KafkaAlertPublisher({ producer: async () => producer, logger: capturingLogger().logger });

    const outcome = await publisher.publish([FLEET_SILENT, STORM]);

    expect(outcome).toEqual({ logged: 2, delivered: 2, failed: 0 });
    expect(producer.sent).toEqual([
      {
        topic: 'Alert',
        messages: [
          { key: 'iota-orchestrator/fleet-silent/Thing', value: JSON.stringify(alertMessage(FLEET_SILENT)) },
          { key: 'iota-orchestrator/recycle-storm/Thing', value: JSON.stringify(alertMessage(STORM)) },
        ],
        acks: -1,
        timeout: 10_000,
      },
    ]);
  });

  it('connects once for many publishes', async () => {
    const producer = new RecordingProducer();
    const publisher = new KafkaAlertPublisher({ producer: async () => producer, logger: capturingLogger().logger });

    await publisher.publish([FLEET_SILENT]);
    await publisher.publish([STORM]);

    expect(producer.connects).toBe(1);
    expect(producer.sent).toHaveLength(2);
  });

  it('reports a broker failure without throwing, still logs the alerts, and reconnects on the next publish', async () => {
    const { logger, lines } = capturingLogger();
    const producers = [new RecordingProducer({ fail: 'connect' }), new RecordingProducer()];
    let made = 0;
    const publisher = new KafkaAlertPublisher({ producer: async () => producers[made++]!, logger });

    const failed = await publisher.publish([FLEET_SILENT]);
    const retried = await publisher.publish([FLEET_SILENT]);

    await flush();
    expect(failed).toEqual({ logged: 1, delivered: 0, failed: 1, error: 'connect ECONNREFUSED 127.0.0.1:9092' });
    expect(retried).toEqual({ logged: 1, delivered: 1, failed: 0 });
    expect(lines.filter((line) => line.level === 40)).toHaveLength(2);
    expect(lines.some((line) => line.level === 50 && String(line.msg).includes('not published to Kafka'))).toBe(true);
  });

  it('gives up on a broker that never acknowledges once its time budget is spent', async () => {
    vi.useFakeTimers();
    try {
      const publisher = new KafkaAlertPublisher({
        producer: async () => new RecordingProducer({ hang: true }),
        logger: capturingLogger().logger,
        timeoutMs: 50,
      });
      let outcome: PublishOutcome | undefined;

      void publisher.publish([STORM]).then((result) => (outcome = result));
      await vi.advanceTimersByTimeAsync(49);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);

      expect(outcome).toEqual({ logged: 1, delivered: 0, failed: 1, error: 'no acknowledgement within 50 ms' });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Kafka alerts from the environment', () => {
  it('is off when KAFKA_BROKERS is not set: alerts stay logged and in the store', () => {
    expect(kafkaAlertsFromEnv({}, silentLogger())).toBeUndefined();
  });

  it('publishes to Kafka when KAFKA_BROKERS is set, to the Alert topic unless told otherwise', () => {
    expect(kafkaAlertsFromEnv({ KAFKA_BROKERS: 'b-1.msk:9092,b-2.msk:9092' }, silentLogger())?.description).toBe(
      'kafka topic Alert on b-1.msk:9092,b-2.msk:9092',
    );
    expect(
      kafkaAlertsFromEnv({ KAFKA_BROKERS: 'b-1.msk:9094', KAFKA_ALERT_TOPIC: 'OrchestratorAlert' }, silentLogger())
        ?.description,
    ).toBe('kafka topic OrchestratorAlert on b-1.msk:9094');
  });

  it('reads TLS and SASL settings', () => {
    expect(
      kafkaSettingsFromEnv({
        KAFKA_BROKERS: 'b-1.msk:9096',
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: 'orchestrator',
        KAFKA_SASL_PASSWORD: 'secret',
      }),
    ).toEqual({
      brokers: ['b-1.msk:9096'],
      clientId: 'iota-orchestrator',
      topic: 'Alert',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'orchestrator', password: 'secret' },
    });
  });

  it.each([
    [{ KAFKA_BROKERS: 'localhost' }, /^KAFKA_BROKERS must be comma-separated host:port/],
    [{ KAFKA_BROKERS: 'localhost:9092', KAFKA_SSL: 'yes' }, /^KAFKA_SSL must be true or false/],
    [{ KAFKA_BROKERS: 'localhost:9092', KAFKA_SASL_MECHANISM: 'gssapi' }, /^KAFKA_SASL_MECHANISM must be/],
    [{ KAFKA_BROKERS: 'localhost:9092', KAFKA_SASL_MECHANISM: 'plain' }, /^KAFKA_SASL_USERNAME is not set/],
    [
      { KAFKA_BROKERS: 'localhost:9092', KAFKA_ALERT_TOPIC: 'no spaces' },
      /^KAFKA_ALERT_TOPIC is not a valid topic name/,
    ],
  ])('rejects a malformed setting, naming the variable: %j', (env, message) => {
    expect(() => kafkaAlertsFromEnv(env, silentLogger())).toThrow(message);
  });
});
