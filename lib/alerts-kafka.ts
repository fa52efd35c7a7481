/**
 * The Kafka side of alerts: its settings (`KAFKA_*`) and a kafkajs producer for the platform's `Alert`
 * topic (SPEC §6). Only the entry points that forward alerts import this
 * module (the alerts function and `npm start`), so kafkajs stays out of every
 * other bundle: those functions record their alerts in the store's outbox
 * (lib/orchestration/alert-outbox.ts), and the alerts function forwards them.
 */
import {
  ALERT_SOURCE,
  type AlertProducer,
  type AlertPublisher,
  DEFAULT_ALERT_TOPIC,
  KafkaAlertPublisher,
} from './alerts.js';
import type { SASLOptions } from 'kafkajs';
import { envCredentials } from './aws-sigv4.js';
import type { Logger } from './log.js';
import { mskIamTokenProvider } from './msk-iam.js';
import { type SecretReader, secretReaderFromEnv } from './secrets.js';

type PasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export type SaslSettings =
  /** MSK IAM access control (lib/msk-iam.ts): the process's AWS credentials sign in, in its region. */
  | { readonly mechanism: 'aws-msk-iam'; readonly region: string }
  | { readonly mechanism: PasswordMechanism; readonly username: string; readonly password: string }
  /** The user and password are in a Secrets Manager secret, as MSK keeps SCRAM users: read when the producer starts. */
  | { readonly mechanism: PasswordMechanism; readonly secretName: string };

export interface KafkaSettings {
  readonly brokers: string[];
  readonly clientId: string;
  readonly topic: string;
  readonly ssl: boolean;
  readonly sasl: SaslSettings | undefined;
}

/**
 * `KAFKA_BROKERS` (comma-separated host:port), `KAFKA_ALERT_TOPIC` (default
 * Alert), `KAFKA_CLIENT_ID`, `KAFKA_SSL` (true/false), and for SASL
 * `KAFKA_SASL_MECHANISM`: `aws-msk-iam` (MSK IAM access control, over TLS,
 * signed with the AWS credentials and `AWS_REGION` of the environment), or
 * plain | scram-sha-256 | scram-sha-512 with `KAFKA_SASL_USERNAME` /
 * `KAFKA_SASL_PASSWORD`, or with `KAFKA_SASL_SECRET`, the name of a Secrets
 * Manager secret holding `{"username","password"}` (MSK's SCRAM secrets,
 * `AmazonMSK_…`), or none. Undefined when no brokers are set.
 */
export function kafkaSettingsFromEnv(env: NodeJS.ProcessEnv): KafkaSettings | undefined {
  const raw = env.KAFKA_BROKERS?.trim();
  if (!raw) return undefined;
  const brokers = raw
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  for (const broker of brokers) {
    if (!/^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(broker))
      throw new Error(`KAFKA_BROKERS must be comma-separated host:port, got ${JSON.stringify(broker)}`);
  }
  // `none` says no SASL where a value is needed (a Serverless parameter cannot be empty).
  const mechanism = env.KAFKA_SASL_MECHANISM?.toLowerCase().replace(/^none$/, '');
  // MSK IAM is served over TLS only (its brokers' port 9098).
  const ssl = (env.KAFKA_SSL || (mechanism === 'aws-msk-iam' ? 'true' : 'false')).toLowerCase();
  if (ssl !== 'true' && ssl !== 'false')
    throw new Error(`KAFKA_SSL must be true or false, got ${JSON.stringify(env.KAFKA_SSL)}`);
  let sasl: KafkaSettings['sasl'];
  if (mechanism === 'aws-msk-iam') {
    const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim();
    if (!region) throw new Error('AWS_REGION is not set (needed with KAFKA_SASL_MECHANISM=aws-msk-iam)');
    if (ssl !== 'true')
      throw new Error('KAFKA_SSL must be true with KAFKA_SASL_MECHANISM=aws-msk-iam (MSK IAM is TLS only)');
    sasl = { mechanism, region };
  } else if (mechanism) {
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      throw new Error(
        `KAFKA_SASL_MECHANISM must be aws-msk-iam, plain, scram-sha-256, scram-sha-512 or none, got ${JSON.stringify(env.KAFKA_SASL_MECHANISM)}`,
      );
    }
    const username = env.KAFKA_SASL_USERNAME;
    const password = env.KAFKA_SASL_PASSWORD;
    const secretName = env.KAFKA_SASL_SECRET?.trim();
    if (secretName) {
      // Either could be the stale one.
      if (username || password)
        throw new Error(
          'KAFKA_SASL_SECRET and KAFKA_SASL_USERNAME/PASSWORD are both set: give the secret or the values',
        );
      sasl = { mechanism, secretName };
    } else {
      const hint = `needed with KAFKA_SASL_MECHANISM=${mechanism} unless KAFKA_SASL_SECRET names a secret`;
      if (!username) throw new Error(`KAFKA_SASL_USERNAME is not set (${hint})`);
      if (!password) throw new Error(`KAFKA_SASL_PASSWORD is not set (${hint})`);
      sasl = { mechanism, username, password };
    }
  }
  if (env.KAFKA_SASL_SECRET?.trim() && !(sasl && 'secretName' in sasl))
    throw new Error('KAFKA_SASL_SECRET is set, but KAFKA_SASL_MECHANISM is not plain, scram-sha-256 or scram-sha-512');
  const topic = env.KAFKA_ALERT_TOPIC?.trim() || DEFAULT_ALERT_TOPIC;
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic))
    throw new Error(`KAFKA_ALERT_TOPIC is not a valid topic name: ${JSON.stringify(topic)}`);
  return { brokers, clientId: env.KAFKA_CLIENT_ID?.trim() || ALERT_SOURCE, topic, ssl: ssl === 'true', sasl };
}

/**
 * The kafkajs SASL options of the settings: MSK IAM as OAUTHBEARER, its token signed with the AWS
 * credentials of `env` (read now, so missing ones fail before any connection); a user and password
 * as given, or read from the secret `KAFKA_SASL_SECRET` names (with `secrets`, default Secrets Manager).
 */
export async function kafkajsSasl(
  settings: KafkaSettings,
  env: NodeJS.ProcessEnv,
  secrets: SecretReader = secretReaderFromEnv(env),
): Promise<SASLOptions | undefined> {
  const { sasl } = settings;
  if (!sasl) return undefined;
  if (sasl.mechanism === 'aws-msk-iam') {
    const credentials = envCredentials(env, 'KAFKA_SASL_MECHANISM=aws-msk-iam');
    return { mechanism: 'oauthbearer', oauthBearerProvider: mskIamTokenProvider({ region: sasl.region, credentials }) };
  }
  if ('secretName' in sasl) return { mechanism: sasl.mechanism, ...userOf(await secrets.read(sasl.secretName), sasl) };
  return sasl;
}

/** `{"username","password"}` of a SCRAM secret, as MSK keeps them; an error names the secret, never its value. */
function userOf(value: string, { secretName }: { secretName: string }): { username: string; password: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const { username, password } = (parsed ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '')
    throw new Error(
      `the secret ${JSON.stringify(secretName)} (KAFKA_SASL_SECRET) is not JSON with a string "username" and "password"`,
    );
  return { username, password };
}

/** A kafkajs producer, imported only when Kafka is configured. */
export async function kafkajsProducer(settings: KafkaSettings, env: NodeJS.ProcessEnv): Promise<AlertProducer> {
  const { Kafka, logLevel } = await import('kafkajs');
  const sasl = await kafkajsSasl(settings, env);
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
