/**
 * Secrets by reference (lib/secrets.ts) against a local Secrets Manager that checks each request as AWS does,
 * its SigV4 signature recomputed by the AWS SDK's own signer (test/support/secrets-manager.ts); and what the
 * store makes of the value it reads.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AwsCredentials } from '../../lib/aws-sigv4.js';
import { SecretsManagerReader, secretReaderFromEnv } from '../../lib/secrets.js';
import { zooKeeperOptionsWithSecret } from '../../lib/store/zookeeper.js';
import { type FakeSecretsManager, startFakeSecretsManager } from '../support/secrets-manager.js';

const REGION = 'eu-west-1';
const CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'FwoGZXIvYXdzE+session/token==',
};
const ZK_AUTH = 'orchestrator:s3cr:et';

let secretsManager: FakeSecretsManager;
beforeEach(async () => {
  secretsManager = await startFakeSecretsManager({
    region: REGION,
    credentials: CREDENTIALS,
    secrets: { 'iota/zk-auth': ZK_AUTH },
  });
});
afterEach(() => secretsManager.close());

/** The error a promise rejects with; a resolved promise fails the test. */
const failureOf = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as Error,
  );

const reader = (credentials: AwsCredentials = CREDENTIALS) =>
  new SecretsManagerReader({ region: REGION, credentials, endpoint: secretsManager.endpoint });

describe('SecretsManagerReader', () => {
  it('reads a secret with a GetSecretValue call the AWS SDK signer verifies, session token signed', async () => {
    const value = await reader().read('iota/zk-auth');

    expect(value).toBe(ZK_AUTH);
    expect(secretsManager.requests).toEqual([
      {
        secretId: 'iota/zk-auth',
        signedHeaders: ['content-type', 'host', 'x-amz-date', 'x-amz-security-token', 'x-amz-target'],
      },
    ]);
  });

  it('signs without a session token when the credentials have none', async () => {
    const { sessionToken: _, ...longTerm } = CREDENTIALS;
    const server = await startFakeSecretsManager({ region: REGION, credentials: longTerm, secrets: { s: 'v' } });
    try {
      const value = await new SecretsManagerReader({
        region: REGION,
        credentials: longTerm,
        endpoint: server.endpoint,
      }).read('s');

      expect(value).toBe('v');
      expect(server.requests.map((request) => request.refused)).toEqual([undefined]);
    } finally {
      await server.close();
    }
  });

  it('is refused with a wrong secret key, and says what AWS answered', async () => {
    const error = await failureOf(reader({ ...CREDENTIALS, secretAccessKey: 'not-the-key' }).read('iota/zk-auth'));

    expect(secretsManager.requests.map((request) => request.refused)).toEqual([
      'InvalidSignatureException: the signature does not match',
    ]);
    expect(error.message).toBe(
      `reading the secret "iota/zk-auth" from Secrets Manager (${new URL(secretsManager.endpoint).host}) failed: ` +
        'InvalidSignatureException: the signature does not match',
    );
  });

  it('reads each name once: repeated and concurrent reads share one request', async () => {
    secretsManager.secrets.set('iota/catalog', 'pa55');
    const secrets = reader();

    const first = await Promise.all([secrets.read('iota/zk-auth'), secrets.read('iota/zk-auth')]);
    const again = await secrets.read('iota/zk-auth');
    const other = await secrets.read('iota/catalog');

    expect([...first, again, other]).toEqual([ZK_AUTH, ZK_AUTH, ZK_AUTH, 'pa55']);
    expect(secretsManager.readsOf('iota/zk-auth')).toBe(1);
    expect(secretsManager.readsOf('iota/catalog')).toBe(1);
  });

  it('keeps no failed read: a secret created after a failure is read by the next call', async () => {
    const secrets = reader();

    const failure = await failureOf(secrets.read('iota/late'));
    secretsManager.secrets.set('iota/late', 'finally');
    const value = await secrets.read('iota/late');

    expect(failure.message).toMatch(/^reading the secret "iota\/late" .* failed: ResourceNotFoundException: /);
    expect(value).toBe('finally');
    expect(secretsManager.readsOf('iota/late')).toBe(2);
  });

  it('gives up on an endpoint that never answers after its timeout', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address() as { port: number };
    try {
      const secrets = new SecretsManagerReader({
        region: REGION,
        credentials: CREDENTIALS,
        endpoint: `http://127.0.0.1:${address.port}`,
        timeoutMs: 200,
      });

      await expect(secrets.read('iota/zk-auth')).rejects.toThrow(/failed: no answer within 200 ms$/);
    } finally {
      silent.close();
    }
  });
});

describe('secretReaderFromEnv', () => {
  it("uses the environment's region, credentials and endpoint", async () => {
    const secrets = secretReaderFromEnv({
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    });

    expect(await secrets.read('iota/zk-auth')).toBe(ZK_AUTH);
  });

  it('needs no credentials until a secret is read, then names the missing variables', async () => {
    const secrets = secretReaderFromEnv({ AWS_REGION: REGION });

    await expect(secrets.read('iota/zk-auth')).rejects.toThrow(
      /AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not all set/,
    );
    expect(secretsManager.requests).toEqual([]);
  });
});

describe('ZooKeeper digest auth by reference', () => {
  const env = { ZK_CONNECT: 'zk:2181', ZK_AUTH_SECRET: 'iota/zk-auth' };

  it("takes the secret's value as the digest auth", async () => {
    expect(await zooKeeperOptionsWithSecret(env, reader())).toEqual({
      connect: 'zk:2181',
      sessionTimeoutMs: 30_000,
      auth: ZK_AUTH,
    });
  });

  it('keeps the plain ZK_AUTH of a local run, and reads no secret for it', async () => {
    expect(await zooKeeperOptionsWithSecret({ ZK_CONNECT: 'zk:2181', ZK_AUTH }, reader())).toMatchObject({
      auth: ZK_AUTH,
    });
    expect(secretsManager.requests).toEqual([]);
  });

  it('refuses a value not of the form user:password, without quoting it', async () => {
    secretsManager.secrets.set('iota/zk-auth', 'no-colon-s3cret');

    const error = await failureOf(zooKeeperOptionsWithSecret(env, reader()));

    expect(error.message).toBe(
      'the secret "iota/zk-auth" (ZK_AUTH_SECRET) must be "user:password" with a non-empty user and password',
    );
  });

  it('refuses both a value and a secret, which could disagree', async () => {
    await expect(zooKeeperOptionsWithSecret({ ...env, ZK_AUTH }, reader())).rejects.toThrow(
      /^ZK_AUTH and ZK_AUTH_SECRET are both set/,
    );
    expect(secretsManager.requests).toEqual([]);
  });
});
