/**
 * The Kafka side of alerts: a kafkajs producer for the platform's `Alert`
 * topic (SPEC §6). Only the entry points that forward alerts import this
 * module (the alerts function and `npm start`), so kafkajs stays out of every
 * other bundle: those functions record their alerts in the store's outbox
 * (lib/orchestration/alert-outbox.ts), and the alerts function forwards them.
 */
import {
  type AlertProducer,
  type AlertPublisher,
  KafkaAlertPublisher,
  type KafkaSettings,
  kafkaSettingsFromEnv,
} from './alerts.js';
import type { SASLOptions } from 'kafkajs';
import { envCredentials } from './aws-sigv4.js';
import type { Logger } from './log.js';
import { mskIamTokenProvider } from './msk-iam.js';

/**
 * The kafkajs SASL options of the settings: MSK IAM as OAUTHBEARER, its token signed with the AWS
 * credentials of `env` (read now, so missing ones fail before any connection).
 */
export function kafkajsSasl(settings: KafkaSettings, env: NodeJS.ProcessEnv): SASLOptions | undefined {
  const { sasl } = settings;
  if (sasl?.mechanism !== 'aws-msk-iam') return sasl;
  const credentials = envCredentials(env, 'KAFKA_SASL_MECHANISM=aws-msk-iam');
  return { mechanism: 'oauthbearer', oauthBearerProvider: mskIamTokenProvider({ region: sasl.region, credentials }) };
}

/** A kafkajs producer, imported only when Kafka is configured. */
export async function kafkajsProducer(settings: KafkaSettings, env: NodeJS.ProcessEnv): Promise<AlertProducer> {
  const { Kafka, logLevel } = await import('kafkajs');
  const sasl = kafkajsSasl(settings, env);
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 3000,
    requestTimeout: 5000,
    retry: { retries: 2 },
    logLevel: logLevel.NOTHING,
  });
  return kafka.producer({ allowAutoTopicCreation: false });
}

/** The Kafka publisher when `KAFKA_BROKERS` is set, else undefined. A malformed variable is a start-up error naming it. */
export function kafkaAlertsFromEnv(env: NodeJS.ProcessEnv, logger: Logger): AlertPublisher | undefined {
  const settings = kafkaSettingsFromEnv(env);
  if (!settings) return undefined;
  return new KafkaAlertPublisher({
    producer: () => kafkajsProducer(settings, env),
    topic: settings.topic,
    description: `kafka topic ${settings.topic} on ${settings.brokers.join(',')}`,
    logger,
  });
}
