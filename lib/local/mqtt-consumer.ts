/**
 * The orchestrator's MQTT subscriber on an external broker (MQTT_URL):
 * cm/notify at QoS 1 and, unless Kafka carries them, heartbeats on
 * `HeartBeat`. The embedded broker needs no subscriber: it writes those
 * messages to the inbox (inbox.ts), which the orchestrator applies.
 *
 * At-least-once for cm/notify: a message is acknowledged to the broker
 * (PUBACK) only after its handler finished, and the session is persistent
 * (clean: false, fixed client id), so the broker queues what is published
 * while the orchestrator is away and delivers it when it is back. Keeping
 * that queue, and keeping it across a restart of the broker itself (e.g.
 * Mosquitto's `persistence true`), is that broker's job. mqtt.js hands over
 * one packet at a time, so notifications are handled in the order they were
 * published.
 */
import { systemClock } from '../clock.js';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';

export const NOTIFY_TOPIC = 'cm/notify';
export const HEARTBEAT_TOPIC = 'HeartBeat';

export interface MqttConsumerOptions {
  readonly url: string;
  readonly clientId: string;
  /** Awaited before the PUBACK; should not throw (failures are its to report). */
  readonly onNotify: (payload: Buffer) => Promise<void>;
  /** Undefined: heartbeats are not read from MQTT (Kafka carries them). */
  readonly onHeartbeat?: (payload: Buffer, receivedAt: number) => void;
  readonly connectTimeoutMs?: number;
}

export interface MqttConsumer {
  close(): Promise<void>;
}

export async function startMqttConsumer(options: MqttConsumerOptions): Promise<MqttConsumer> {
  const client: MqttClient = mqtt.connect(options.url, {
    clientId: options.clientId,
    clean: false,
    reconnectPeriod: 1000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
  });
  client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void): void => {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
    if (packet.topic === HEARTBEAT_TOPIC && options.onHeartbeat) {
      options.onHeartbeat(payload, systemClock());
      done();
      return;
    }
    if (packet.topic === NOTIFY_TOPIC) {
      void options.onNotify(payload).finally(() => done());
      return;
    }
    done();
  };

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('no CONNACK')), (options.connectTimeoutMs ?? 10_000) + 500);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      client.end(true);
      reject(new Error(`cannot connect to the MQTT broker at ${options.url}: ${error.message}`, { cause: error }));
    };
    client.once('connect', () => {
      clearTimeout(timer);
      client.off('error', fail);
      resolve();
    });
    client.once('error', fail);
  });
  client.on('error', () => {
    // mqtt.js reconnects by itself; the next 'connect' resubscribes.
  });

  const topics: Record<string, { qos: 0 | 1 }> = { [NOTIFY_TOPIC]: { qos: 1 } };
  if (options.onHeartbeat) topics[HEARTBEAT_TOPIC] = { qos: 0 };
  const granted = await client.subscribeAsync(topics);
  const refused = granted.filter((grant) => grant.qos === 128);
  if (refused.length > 0) {
    await client.endAsync(true);
    throw new Error(
      `the MQTT broker at ${options.url} refused the subscription to ${refused.map((grant) => grant.topic).join(', ')}`,
    );
  }

  return {
    async close() {
      await client.endAsync();
    },
  };
}
