/**
 * MSK IAM access control for the alerts producer: the OAUTHBEARER token (a presigned
 * `kafka-cluster:Connect` URL, as AWS's signer libraries build it), its reuse, and the
 * settings that choose it.
 */
import { describe, expect, it } from 'vitest';
import { kafkajsSasl, kafkaSettingsFromEnv } from '../../lib/alerts-kafka.js';
import {
  MSK_TOKEN_REUSE_MS,
  MSK_TOKEN_USER_AGENT,
  mskIamTokenProvider,
  presignMskIamToken,
} from '../../lib/msk-iam.js';
import { EXAMPLE_CREDENTIALS, EXAMPLE_SIGNING_TIME, expectedPresignedSignature } from '../support/sigv4-oracle.js';

const CREDENTIALS = EXAMPLE_CREDENTIALS;
const SIGNING_TIME = EXAMPLE_SIGNING_TIME;

const decode = (token: string): URL => new URL(Buffer.from(token, 'base64url').toString('utf8'));

describe('MSK IAM token', () => {
  it('is the unpadded base64url of a kafka-cluster:Connect URL presigned for kafka-cluster, valid 900 s', () => {
    const token = presignMskIamToken({ region: 'eu-west-1', credentials: CREDENTIALS, signingTime: SIGNING_TIME });

    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    const url = decode(token);
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('https://kafka.eu-west-1.amazonaws.com/');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      Action: 'kafka-cluster:Connect',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIDEXAMPLE/20250506/eu-west-1/kafka-cluster/aws4_request',
      'X-Amz-Date': '20250506T070809Z',
      'X-Amz-Expires': '900',
      'X-Amz-Security-Token': CREDENTIALS.sessionToken,
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': expect.stringMatching(/^[0-9a-f]{64}$/),
      'User-Agent': MSK_TOKEN_USER_AGENT,
    });
  });

  it('carries a valid SigV4 signature of the request, the User-Agent left unsigned', () => {
    const url = decode(
      presignMskIamToken({ region: 'eu-west-1', credentials: CREDENTIALS, signingTime: SIGNING_TIME }),
    );
    const expected = (secret: string) => expectedPresignedSignature(url, { host: url.host }, secret, ['User-Agent']);

    expect(url.searchParams.get('X-Amz-Signature')).toBe(expected(CREDENTIALS.secretAccessKey));
    expect(url.searchParams.get('X-Amz-Signature')).not.toBe(expected('another-secret'));
  });

  it('is signed for the China partition host in cn- regions', () => {
    const token = presignMskIamToken({ region: 'cn-north-1', credentials: CREDENTIALS, signingTime: SIGNING_TIME });

    expect(decode(token).host).toBe('kafka.cn-north-1.amazonaws.com.cn');
  });
});

describe('MSK IAM token provider', () => {
  it('reuses its token for 14 minutes, then signs a new one', async () => {
    let now = SIGNING_TIME;
    let reads = 0;
    const provider = mskIamTokenProvider({
      region: 'eu-west-1',
      credentials: async () => {
        reads++;
        return { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
      },
      now: () => now,
    });

    const first = await provider();
    now += MSK_TOKEN_REUSE_MS - 1;
    const reused = await provider();
    now += 1;
    const renewed = await provider();

    expect(reused).toEqual(first);
    expect(renewed.value).not.toBe(first.value);
    expect(decode(renewed.value).searchParams.get('X-Amz-Date')).toBe('20250506T072209Z');
    expect(reads).toBe(2);
  });

  it('signs again a minute before the temporary credentials it used expire', async () => {
    let now = SIGNING_TIME;
    const expiration = new Date(SIGNING_TIME + 5 * 60_000);
    const provider = mskIamTokenProvider({
      region: 'eu-west-1',
      credentials: async () => ({ ...CREDENTIALS, expiration }),
      now: () => now,
    });

    const first = await provider();
    now += 4 * 60_000;

    expect((await provider()).value).not.toBe(first.value);
  });
});

describe('KAFKA_SASL_MECHANISM=aws-msk-iam', () => {
  const env = {
    KAFKA_BROKERS: 'b-1.iota.kafka.eu-west-1.amazonaws.com:9098',
    KAFKA_SASL_MECHANISM: 'aws-msk-iam',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
  };

  it('is TLS with the region of the environment, no user or password', () => {
    expect(kafkaSettingsFromEnv(env)).toMatchObject({
      ssl: true,
      sasl: { mechanism: 'aws-msk-iam', region: 'eu-west-1' },
    });
  });

  it('gives kafkajs OAUTHBEARER with a provider of MSK IAM tokens signed by the environment’s credentials', async () => {
    const sasl = await kafkajsSasl(kafkaSettingsFromEnv(env)!, env);

    expect(sasl).toMatchObject({ mechanism: 'oauthbearer' });
    const { value } = await (sasl as { oauthBearerProvider: () => Promise<{ value: string }> }).oauthBearerProvider();
    const url = decode(value);
    expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDEXAMPLE\/\d{8}\/eu-west-1\/kafka-cluster\//);
  });

  it('none is no SASL at all (a Serverless parameter cannot be empty)', () => {
    expect(kafkaSettingsFromEnv({ KAFKA_BROKERS: '127.0.0.1:9092', KAFKA_SASL_MECHANISM: 'none' })).toMatchObject({
      ssl: false,
      sasl: undefined,
    });
  });

  it.each([
    [{ ...env, AWS_REGION: '' }, /^AWS_REGION is not set \(needed with KAFKA_SASL_MECHANISM=aws-msk-iam\)/],
    [{ ...env, KAFKA_SSL: 'false' }, /^KAFKA_SSL must be true with KAFKA_SASL_MECHANISM=aws-msk-iam/],
  ])('refuses a setting it cannot work with, naming it: %j', (given, message) => {
    expect(() => kafkaSettingsFromEnv(given)).toThrow(message);
  });

  it('refuses missing credentials before any connection, naming what needs them', async () => {
    const { AWS_ACCESS_KEY_ID: _, ...without } = env;

    await expect(kafkajsSasl(kafkaSettingsFromEnv(without)!, without)).rejects.toThrow(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set \(needed with KAFKA_SASL_MECHANISM=aws-msk-iam/,
    );
  });
});
