/**
 * Heartbeats from Kafka topic `HeartBeat` when KAFKA_BROKERS is set.
 *
 * One consumer group for every kind (default `iota-orchestrator`, env
 * KAFKA_GROUP_ID). The legacy ran one Orchestrator object per kind, each with
 * its own group `iota-orchestrator-<Resource>` so that each saw every message
 * and kept its own kind's. Here one consumer hands every record to the
 * heartbeat handler, which routes by `resource` itself: per-kind groups would
 * only read each message once per kind to throw most copies away.
 */
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import type { HeartbeatRecordInput } from '../handlers/heartbeat.js';

export interface KafkaHeartbeatOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly topic?: string;
  readonly onRecord: (record: HeartbeatRecordInput) => void;
}

export interface KafkaHeartbeatConsumer {
  close(): Promise<void>;
}

export async function startKafkaHeartbeats(options: KafkaHeartbeatOptions): Promise<KafkaHeartbeatConsumer> {
  const kafka = new Kafka({
    clientId: `${options.groupId}-local`,
    brokers: [...options.brokers],
    logLevel: logLevel.ERROR,
  });
  const consumer: Consumer = kafka.consumer({ groupId: options.groupId });
  const topic = options.topic ?? 'HeartBeat';
  try {
    await consumer.connect();
    // Only new heartbeats matter: an old one says nothing about now.
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        options.onRecord({
          value: message.value?.toString('utf8') ?? '',
          timestamp: Number(message.timestamp) || undefined,
          topic,
          partition,
          offset: Number(message.offset),
        });
      },
    });
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw new Error(`cannot consume ${topic} from Kafka at ${options.brokers.join(',')}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return {
    async close() {
      await consumer.disconnect();
    },
  };
}
