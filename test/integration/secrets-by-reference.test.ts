/**
 * Secrets by reference, end to end through the Lambda entry points, against a local Secrets Manager that
 * checks every request's SigV4 signature (test/support/secrets-manager.ts), the real ZooKeeper and the real
 * PostgreSQL of the run:
 * - a warm container (no IS_LOCAL) reads ZK_AUTH_SECRET once, before its first session, and every node it
 *   creates belongs to that digest user, readable by all;
 * - the catalog function logs in with the password of CATALOG_PASSWORD_SECRET (an RDS secret's JSON), the
 *   URL carrying none; with another secret's password the same URL is refused by the server.
 */
import { randomBytes } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { handler as catalog } from '../../functions/catalog.js';
import { handler as notify } from '../../functions/notify.js';
import { sharedApp } from '../../lib/app.js';
import { digestId } from '../../lib/store/zookeeper.js';
import { placedOn, useLocalLambdaEnv } from '../support/lambda-env.js';
import { uniqueRoot } from '../support/paths.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-database.js';
import { type FakeSecretsManager, startFakeSecretsManager } from '../support/secrets-manager.js';

const REGION = 'eu-west-1';
const CREDENTIALS = {
  accessKeyId: 'AKIDLAMBDA',
  secretAccessKey: 'lambda/role/secret/key',
  sessionToken: 'IQoJb3Jp==',
};
/** What a Lambda's environment gives the function to sign with, pointed at the local Secrets Manager. */
const awsEnv = (endpoint: string) => ({
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
});

type Callback<T> = (error: unknown, value: T) => void;
const call = <T>(start: (done: Callback<T>) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));

describe('a warm function whose ZooKeeper credentials are a secret by reference', () => {
  const auth = `orchestrator:${randomBytes(6).toString('hex')}`;
  const root = uniqueRoot('secret-ref');
  const saved = { ...process.env };
  let secretsManager: FakeSecretsManager;
  let admin: zookeeper.Client | undefined;

  beforeAll(async () => {
    secretsManager = await startFakeSecretsManager({
      region: REGION,
      credentials: CREDENTIALS,
      secrets: { 'iota/zookeeper-auth': auth },
    });
    Object.assign(process.env, {
      ...awsEnv(secretsManager.endpoint),
      ZK_CONNECT: inject('zkConnect'),
      ZK_AUTH_SECRET: 'iota/zookeeper-auth',
      ZK_ROOT: `${root}/orchestration`,
      ZK_STATE_ROOT: `${root}/orchestrator`,
      LOG_LEVEL: 'silent',
    });
    // Deployed: one App per container (sharedApp), and no plain credentials anywhere.
    for (const name of ['IS_LOCAL', 'ZK_AUTH']) delete process.env[name];
  });
  afterAll(async () => {
    await (await sharedApp()).close();
    admin?.close();
    process.env = { ...saved };
    await secretsManager?.close();
  });

  it('reads the secret once, and every node it creates belongs to that user and is readable by all', async () => {
    await notify({ o: 'c', t: 'Thing', k: { id: 'thing-1' } });
    await notify({ o: 'c', t: 'Thing', k: { id: 'thing-2' } });

    expect(secretsManager.readsOf('iota/zookeeper-auth')).toBe(1);
    expect(secretsManager.requests.filter((request) => request.refused)).toEqual([]);
    // ZooKeeper shows a digest only to a client with ADMIN rights on the node.
    admin = zookeeper.createClient(inject('zkConnect'));
    admin.addAuthInfo('digest', Buffer.from(auth));
    const connected = new Promise<void>((resolve) => admin!.once('connected', () => resolve()));
    admin.connect();
    await connected;
    const kind = `${root}/orchestration/Thing`;
    const instances = await call<string[]>((done) => admin!.getChildren(kind, done));
    expect(instances.length).toBeGreaterThan(0);
    for (const path of [kind, ...instances.flatMap((id) => [`${kind}/${id}`, `${kind}/${id}/resources`])]) {
      const acls = await call<zookeeper.ACL[]>((done) => admin!.getACL(path, done));
      expect(
        acls.map((acl) => ({ permission: acl.permission, scheme: acl.id.scheme, id: acl.id.id })),
        path,
      ).toEqual([
        { permission: zookeeper.Permission.ALL, scheme: 'digest', id: digestId(auth) },
        { permission: zookeeper.Permission.READ, scheme: 'world', id: 'anyone' },
      ]);
    }
  });
});

describe('the catalog function, its password a secret by reference', () => {
  const TICK = { source: 'aws.events', 'detail-type': 'Scheduled Event', time: '2024-05-01T08:00:00Z' };
  const role = `catalog_${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  let database: TestDatabase;
  let secretsManager: FakeSecretsManager;
  let urlWithoutPassword: string;

  beforeAll(async () => {
    database = await createTestDatabase(inject('pgUrl'), 'catalog_secret');
    // A member of password_users: the test server makes it give its password (scram).
    await database.admin.query(`CREATE ROLE ${role} LOGIN IN ROLE password_users PASSWORD '${password}'`);
    await database.db.query('CREATE TABLE "Thing" (id text COLLATE "C" PRIMARY KEY)');
    await database.db.query('CREATE TABLE "Rule" (id text COLLATE "C" PRIMARY KEY)');
    await database.db.query(`GRANT SELECT ON "Thing", "Rule" TO ${role}`);
    await database.db.query(`INSERT INTO "Thing" (id) VALUES ('t-1')`);
    const url = new URL(database.url);
    url.username = role;
    urlWithoutPassword = url.toString();
    // As RDS writes a managed or rotated secret.
    secretsManager = await startFakeSecretsManager({
      region: REGION,
      credentials: CREDENTIALS,
      secrets: {
        'iota/catalog': JSON.stringify({ engine: 'postgres', username: role, password, port: 5432 }),
        'iota/catalog-stale': JSON.stringify({ engine: 'postgres', username: role, password: 'stale-pa55' }),
      },
    });
  });
  afterAll(async () => {
    await secretsManager?.close();
    await database?.drop();
  });
  // `sls invoke local`'s way: a fresh App per invocation, on an embedded store of its own.
  useLocalLambdaEnv('catalog-secret', {}, ['CATALOG_URL', 'CATALOG_PASSWORD_SECRET', 'ZK_AUTH_SECRET']);

  it('logs in with the password it reads from the secret, the URL carrying none', async () => {
    Object.assign(process.env, {
      ...awsEnv(secretsManager.endpoint),
      CATALOG_URL: urlWithoutPassword,
      CATALOG_PASSWORD_SECRET: 'iota/catalog',
    });

    const run = await catalog(TICK);

    expect(run).toMatchObject({
      status: 'done',
      failed: [],
      passes: [
        { resource: 'Thing', status: 'done', missing: 1, healed: 1 },
        { resource: 'Rule', status: 'done' },
      ],
    });
    expect(await placedOn('Thing', ['t-1'])).toEqual([expect.any(String)]);
    expect(secretsManager.readsOf('iota/catalog')).toBe(1);
  });

  it("is refused by the server with another secret's password, and says so without either", async () => {
    Object.assign(process.env, {
      ...awsEnv(secretsManager.endpoint),
      CATALOG_URL: urlWithoutPassword,
      CATALOG_PASSWORD_SECRET: 'iota/catalog-stale',
    });

    const error = await catalog(TICK).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    expect(error?.message).toMatch(/password authentication failed/);
    expect(error?.message).not.toMatch(new RegExp(`${password}|stale-pa55`));
  });
});
