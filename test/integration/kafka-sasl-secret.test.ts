/**
 * SCRAM users of MSK live in Secrets Manager (secrets named `AmazonMSK_…`, JSON `{"username","password"}`):
 * with KAFKA_SASL_SECRET the alerts producer signs in with the user of that secret, read from a local Secrets
 * Manager that checks every request's SigV4 signature (test/support/secrets-manager.ts). No Kafka broker runs
 * here: what is checked is the SASL kafkajs is given, and that nothing plain is needed or accepted beside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkajsSasl, kafkaSettingsFromEnv } from '../../lib/alerts-kafka.js';
import { type FakeSecretsManager, startFakeSecretsManager } from '../support/secrets-manager.js';

const REGION = 'eu-west-1';
const CREDENTIALS = {
  accessKeyId: 'AKIDLAMBDA',
  secretAccessKey: 'lambda/role/secret/key',
  sessionToken: 'IQoJb3Jp==',
};
const SECRET = 'AmazonMSK_iota-alerts';
const USER = { username: 'iota-alerts', password: 'scram/password/of/the/user' };

describe('KAFKA_SASL_SECRET', () => {
  let secretsManager: FakeSecretsManager;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    secretsManager = await startFakeSecretsManager({
      region: REGION,
      credentials: CREDENTIALS,
      secrets: { [SECRET]: JSON.stringify(USER), AmazonMSK_not_json: 'iota-alerts:password' },
    });
    env = {
      KAFKA_BROKERS: 'b-1.iota.kafka.eu-west-1.amazonaws.com:9096',
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_SECRET: SECRET,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    };
  });
  afterAll(async () => {
    await secretsManager?.close();
  });

  it('gives kafkajs the user and password of the secret, read with the function’s signed request', async () => {
    const settings = kafkaSettingsFromEnv(env)!;

    const sasl = await kafkajsSasl(settings, env);

    expect(settings.sasl).toEqual({ mechanism: 'scram-sha-512', secretName: SECRET });
    expect(sasl).toEqual({ mechanism: 'scram-sha-512', ...USER });
    expect(secretsManager.readsOf(SECRET)).toBe(1);
    expect(secretsManager.requests.filter((request) => request.refused)).toEqual([]);
  });

  it('refuses a secret that is not the JSON MSK keeps, naming the secret and never showing its value', async () => {
    const malformed = { ...env, KAFKA_SASL_SECRET: 'AmazonMSK_not_json' };

    const error = await kafkajsSasl(kafkaSettingsFromEnv(malformed)!, malformed).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );

    expect(error.message).toBe(
      'the secret "AmazonMSK_not_json" (KAFKA_SASL_SECRET) is not JSON with a string "username" and "password"',
    );
    expect(error.message).not.toContain('password:');
  });

  it.each([
    [
      { KAFKA_SASL_USERNAME: 'someone' },
      'KAFKA_SASL_SECRET and KAFKA_SASL_USERNAME/PASSWORD are both set: give the secret or the values',
    ],
    [
      { KAFKA_SASL_MECHANISM: 'aws-msk-iam' },
      'KAFKA_SASL_SECRET is set, but KAFKA_SASL_MECHANISM is not plain, scram-sha-256 or scram-sha-512',
    ],
    [
      { KAFKA_SASL_SECRET: '' },
      'KAFKA_SASL_USERNAME is not set (needed with KAFKA_SASL_MECHANISM=scram-sha-512 unless KAFKA_SASL_SECRET names a secret)',
    ],
  ])('refuses settings that contradict it, naming them: %j', (change, message) => {
    expect(() => kafkaSettingsFromEnv({ ...env, ...change })).toThrow(message);
  });
});
