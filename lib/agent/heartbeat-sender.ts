/**
 * How a worker tells the orchestrator it is alive: one small JSON message on
 * topic `HeartBeat`, over MQTT locally or Kafka in production (the DAC's
 * SendHeartBeat). A heartbeat is only worth anything while it is fresh, so
 * one that cannot be sent now is dropped, never queued for later.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import mqtt from 'mqtt';
import { redactUrl } from '../redact.js';
import type { HeartbeatTarget } from './config.js';

/** The message shape of topic `HeartBeat` (SPEC §2); extra fields are kept by the orchestrator. */
export interface HeartbeatMessage {
  readonly resource: string;
  readonly instanceId: string;
  readonly podName: string;
  /** Epoch ms when the worker sent it. */
  readonly at: number;
  readonly pid: number;
  /** How many resources the worker currently serves. */
  readonly resources: number;
  /** The `_reload.times` the worker last read. */
  readonly reloadTimes: number;
}

export type SendOutcome = 'sent' | 'dropped';

export interface HeartbeatSender {
  readonly description: string;
  send(message: HeartbeatMessage): Promise<SendOutcome>;
  close(): Promise<void>;
}

export const encodeHeartbeat = (message: HeartbeatMessage): string => JSON.stringify(message);

export function openHeartbeatSender(target: HeartbeatTarget): HeartbeatSender {
  return target.transport === 'kafka' ? kafkaSender(target) : mqttSender(target);
}

const CONNECT_WAIT_MS = 2000;

function connectedWithin(client: mqtt.MqttClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (value: boolean): void => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      resolve(value);
    };
    const onConnect = (): void => done(true);
    const timer = setTimeout(() => done(client.connected), ms);
    client.on('connect', onConnect);
  });
}

function mqttSender(target: Extract<HeartbeatTarget, { transport: 'mqtt' }>): HeartbeatSender {
  // Connects in the background and keeps reconnecting: a worker serves its
  // resources whether or not the broker is up.
  const client = mqtt.connect(target.url, {
    reconnectPeriod: 1000,
    connectTimeout: 5000,
    queueQoSZero: false,
    clean: true,
  });
  client.on('error', () => {
    // Reconnects on its own; a failed heartbeat shows as 'dropped'.
  });
  return {
    // The worker logs its description: the broker's password stays out of it.
    description: `MQTT ${redactUrl(target.url)} topic ${target.topic}`,
    async send(message) {
      // The first heartbeat of a fresh worker waits briefly for the connection:
      // it is what tells the orchestrator the replacement is alive.
      if (!client.connected && !(await connectedWithin(client, CONNECT_WAIT_MS))) return 'dropped';
      try {
        await client.publishAsync(target.topic, encodeHeartbeat(message), { qos: 0 });
        return 'sent';
      } catch {
        return 'dropped';
      }
    },
    async close() {
      await client.endAsync(true);
    },
  };
}

function kafkaSender(target: Extract<HeartbeatTarget, { transport: 'kafka' }>): HeartbeatSender {
  const kafka = new Kafka({
    clientId: target.clientId,
    brokers: [...target.brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 1 },
  });
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;
  const connected = (): Promise<Producer> =>
    (connecting ??= (async () => {
      const fresh = kafka.producer({ allowAutoTopicCreation: false });
      await fresh.connect();
      producer = fresh;
      return fresh;
    })().catch((error: unknown) => {
      connecting = undefined;
      throw error;
    }));
  return {
    description: `Kafka ${target.brokers.join(',')} topic ${target.topic}`,
    async send(message) {
      try {
        const ready = await connected();
        // Keyed by instance so one instance's heartbeats stay in order on one partition.
        await ready.send({
          topic: target.topic,
          messages: [{ key: `${message.resource}/${message.instanceId}`, value: encodeHeartbeat(message) }],
        });
        return 'sent';
      } catch {
        return 'dropped';
      }
    },
    async close() {
      await producer?.disconnect().catch(() => undefined);
    },
  };
}
