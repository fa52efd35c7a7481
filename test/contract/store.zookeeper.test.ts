import { Worker } from 'node:worker_threads';
import zookeeper from 'node-zookeeper-client';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { openStore } from '../../lib/store/open.js';
import { ConflictError, StoreUnavailableError } from '../../lib/store/port.js';
import { ZooKeeperStore, zooKeeperOptionsFromEnv } from '../../lib/store/zookeeper.js';
import { uniqueRoot } from '../support/paths.js';
import { startRelay } from '../support/tcp-relay.js';
import { waitFor } from '../support/wait.js';
import { freePort } from '../support/zookeeper-server.js';
import { describeStoreContract } from './store.contract.js';

const connect = inject('zkConnect');

describeStoreContract('zookeeper', async () => {
  const store = await ZooKeeperStore.connect({ connect });
  return { store, root: uniqueRoot('zk-contract'), cleanup: () => store.close() };
});

// "orchestrator:s3cr:et" and its digest as ZooKeeper's own DigestAuthenticationProvider prints it.
const AUTH = 'orchestrator:s3cr:et';
const AUTH_DIGEST = 'orchestrator:Hx5Yagz0N0ksjZAyU/6B3vmD4dc=';

type Callback<T> = (error: unknown, value: T) => void;
const call = <T>(start: (done: Callback<T>) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));

async function rawClient(options: zookeeper.ClientOptions = {}, auth?: string): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(connect, options);
  if (auth) client.addAuthInfo('digest', Buffer.from(auth));
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  return client;
}

const codeOf = (error: unknown): number | undefined =>
  error instanceof zookeeper.Exception ? error.getCode() : undefined;

/** Rejected promise's reason, or undefined when it resolved. */
const failureOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

/**
 * An ephemeral node owned by the store's current session, next to `root`: the server
 * deletes it when it expires that session, so its absence is the awaited condition.
 */
async function sessionMarker(store: ZooKeeperStore, root: string): Promise<string> {
  const client = store.currentClient;
  if (!client) throw new Error('the store has no client');
  const marker = `${root}-session`;
  return call<string>((done) =>
    client.create(marker, Buffer.alloc(0), zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.EPHEMERAL, done),
  );
}

/**
 * Blocks this thread, as a frozen process is, until the server has deleted `marker`
 * (its session expired); a worker thread, which the freeze does not stop, watches for that.
 * Returns how the freeze ended: 'ok' once the marker is gone, 'timed-out' past `timeoutMs`.
 */
function freezeUntilGone(marker: string, timeoutMs: number): ReturnType<typeof Atomics.wait> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const watcher = new Worker(
    `
    const { workerData } = require('node:worker_threads');
    const zookeeper = require('node-zookeeper-client');
    const flag = new Int32Array(workerData.shared);
    const client = zookeeper.createClient(workerData.connect);
    const poll = () =>
      client.exists(workerData.marker, (error, stat) => {
        if (error || stat) return void setTimeout(poll, 50);
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
        client.close();
      });
    client.once('connected', poll);
    client.connect();
    `,
    { eval: true, workerData: { shared: flag.buffer, connect, marker } },
  );
  try {
    return Atomics.wait(flag, 0, 0, timeoutMs);
  } finally {
    void watcher.terminate();
  }
}

describe('ZooKeeperStore', () => {
  const opened: Array<{ close(): unknown }> = [];
  const track = <T extends { close(): unknown }>(thing: T): T => {
    opened.push(thing);
    return thing;
  };

  afterEach(async () => {
    for (const thing of opened.splice(0).reverse()) await thing.close();
  });

  it('reads a node created without data (the legacy tmp node) as the empty string', async () => {
    // Prepare
    const root = uniqueRoot('zk-nodata');
    const store = track(await ZooKeeperStore.connect({ connect }));
    await store.ensurePath(root);
    const raw = track(await rawClient());
    // Act
    await call<string>((done) => raw.create(`${root}/tmp`, done));
    // Assess
    expect(await store.get(`${root}/tmp`)).toEqual({ path: `${root}/tmp`, data: '', version: 0 });
  });

  it('with auth, every node it creates carries the digest ACL with all rights and world read', async () => {
    // Prepare
    const root = uniqueRoot('zk-acl');
    const store = track(await ZooKeeperStore.connect({ connect, auth: AUTH }));
    // ZooKeeper shows digests only to a client with ADMIN rights on the node (others see "user:x").
    const admin = track(await rawClient({}, AUTH));
    // Act
    await store.ensurePath(`${root}/orchestration`);
    await store.commit([{ op: 'create', path: `${root}/orchestration/Thing`, data: '' }]);
    // Assess
    for (const path of [root, `${root}/orchestration`, `${root}/orchestration/Thing`]) {
      const acls = await call<zookeeper.ACL[]>((done) => admin.getACL(path, done));
      expect(
        acls.map((acl) => ({ permission: acl.permission, scheme: acl.id.scheme, id: acl.id.id })),
        path,
      ).toEqual([
        { permission: zookeeper.Permission.ALL, scheme: 'digest', id: AUTH_DIGEST },
        { permission: zookeeper.Permission.READ, scheme: 'world', id: 'anyone' },
      ]);
    }
  });

  it('with auth, a worker without credentials can read the layout but gets NO_AUTH writing it', async () => {
    // Prepare
    const root = uniqueRoot('zk-noauth');
    const store = track(await ZooKeeperStore.connect({ connect, auth: AUTH }));
    await store.ensurePath(root);
    await store.commit([{ op: 'create', path: `${root}/_reload`, data: '{"times":0}' }]);
    const worker = track(await rawClient());
    // Act
    const read = await call<Buffer | null | undefined>((done) => worker.getData(`${root}/_reload`, done));
    const setError = await failureOf(
      call<unknown>((done) => worker.setData(`${root}/_reload`, Buffer.from('{"times":9}'), -1, done)),
    );
    const createError = await failureOf(call<string>((done) => worker.create(`${root}/_reload/x`, done)));
    const removeError = await failureOf(
      call<void>((done) => worker.remove(`${root}/_reload`, -1, (error) => done(error, undefined))),
    );
    await store.commit([{ op: 'set', path: `${root}/_reload`, data: '{"times":1}', version: 0 }]);
    // Assess
    expect(read?.toString()).toBe('{"times":0}');
    expect([setError, createError, removeError].map(codeOf)).toEqual([
      zookeeper.Exception.NO_AUTH,
      zookeeper.Exception.NO_AUTH,
      zookeeper.Exception.NO_AUTH,
    ]);
    expect(await store.get(`${root}/_reload`)).toEqual({ path: `${root}/_reload`, data: '{"times":1}', version: 1 });
  });

  it('a store with other credentials is refused writing, which is neither a conflict nor an outage', async () => {
    // Prepare
    const root = uniqueRoot('zk-intruder');
    const owner = track(await ZooKeeperStore.connect({ connect, auth: AUTH }));
    await owner.ensurePath(root);
    const intruder = track(await ZooKeeperStore.connect({ connect, auth: 'intruder:guess' }));
    // Act
    const error = await failureOf(intruder.commit([{ op: 'set', path: root, data: 'mine', version: 0 }]));
    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ConflictError);
    expect(error).not.toBeInstanceOf(StoreUnavailableError);
    expect(String(error)).toMatch(/NO_AUTH/);
    expect(await owner.get(root)).toEqual({ path: root, data: '', version: 0 });
  });

  it('opens a new client when its client was closed under it, and the next commit works', async () => {
    // Prepare
    const root = uniqueRoot('zk-closed');
    const store = track(await ZooKeeperStore.connect({ connect }));
    await store.ensurePath(root);
    const dropped = store.currentClient;
    // Act
    dropped?.close();
    await store.commit([{ op: 'create', path: `${root}/after`, data: 'ok' }]);
    // Assess
    expect(dropped).toBeDefined();
    expect(store.currentClient).toBeDefined();
    expect(store.currentClient).not.toBe(dropped);
    expect(await store.get(`${root}/after`)).toEqual({ path: `${root}/after`, data: 'ok', version: 0 });
  });

  it('recovers from a partition longer than the session timeout: its watches fire and the next read works on a new session', async () => {
    // Prepare
    const relay = track(await startRelay(Number(connect.split(':')[1])));
    const root = uniqueRoot('zk-expired');
    const store = track(
      await ZooKeeperStore.connect({
        connect: `127.0.0.1:${relay.port}`,
        sessionTimeoutMs: 2000,
        connectTimeoutMs: 1000,
      }),
    );
    await store.ensurePath(root);
    const oldSession = store.currentClient?.getSessionId().toString('hex');
    let watchCalls = 0;
    const watchFired = new Promise<void>((resolve) =>
      store.watch(root, () => {
        watchCalls += 1;
        resolve();
      }),
    );
    await store.get(root);
    const marker = await sessionMarker(store, root);
    const observer = track(await rawClient());
    // Act: no ping gets through until the server has expired the session (it deletes the session's ephemeral node).
    relay.silence();
    await waitFor(async () => (await call<zookeeper.Stat | null>((done) => observer.exists(marker, done))) === null, {
      what: 'the server to expire the partitioned session',
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    relay.restore();
    await watchFired;
    const node = await store.get(root);
    // Assess
    expect(watchCalls).toBe(1);
    expect(node).toEqual({ path: root, data: '', version: 0 });
    expect(oldSession).toBeDefined();
    expect(store.currentClient?.getSessionId().toString('hex')).not.toBe(oldSession);
  });

  it('a commit right after the process was frozen past the session timeout succeeds on a new session', async () => {
    // Prepare
    const root = uniqueRoot('zk-frozen');
    const store = track(await ZooKeeperStore.connect({ connect, sessionTimeoutMs: 2000 }));
    await store.ensurePath(root);
    const before = store.currentClient;
    const marker = await sessionMarker(store, root);
    // Act: block the event loop the way a Lambda freeze does, until the server has expired the session.
    const freeze = freezeUntilGone(marker, 20_000);
    await store.commit([{ op: 'create', path: `${root}/thawed`, data: 'ok' }]);
    // Assess
    expect(freeze).toBe('ok');
    expect(store.currentClient).not.toBe(before);
    expect(await store.get(`${root}/thawed`)).toEqual({ path: `${root}/thawed`, data: 'ok', version: 0 });
  });

  // How long these failures take is a figure of `npm run bench -- store-faults`, not asserted here.
  it('an unreachable server rejects with StoreUnavailableError instead of retrying forever', async () => {
    // Prepare
    const port = await freePort();
    // Act
    const error = await failureOf(
      ZooKeeperStore.connect({ connect: `127.0.0.1:${port}`, connectTimeoutMs: 500, sessionTimeoutMs: 2000 }),
    );
    // Assess
    expect(error).toBeInstanceOf(StoreUnavailableError);
  });

  it('a server that stops answering fails the read with StoreUnavailableError, and the store reconnects once it answers again', async () => {
    // Prepare
    const relay = track(await startRelay(Number(connect.split(':')[1])));
    const root = uniqueRoot('zk-silent');
    const store = track(
      await ZooKeeperStore.connect({
        connect: `127.0.0.1:${relay.port}`,
        connectTimeoutMs: 500,
        operationTimeoutMs: 500,
      }),
    );
    await store.ensurePath(root);
    // Act
    relay.silence();
    const error = await failureOf(store.get(root));
    relay.restore();
    const node = await store.get(root);
    // Assess
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(node).toEqual({ path: root, data: '', version: 0 });
  });

  it('openStore with ZK_CONNECT opens ZooKeeper', async () => {
    const store = track(await openStore({ ZK_CONNECT: connect, ORCH_DATA_DIR: '/nonexistent/should-not-be-used' }));
    expect(store.description).toBe(`zookeeper ${connect}`);
    await store.ping();
  });
});

describe('zooKeeperOptionsFromEnv', () => {
  it('reads the connect string with a 30 s session timeout and no auth by default', () => {
    expect(zooKeeperOptionsFromEnv({ ZK_CONNECT: 'zk-0:2181,zk-1:2181' })).toEqual({
      connect: 'zk-0:2181,zk-1:2181',
      sessionTimeoutMs: 30_000,
    });
  });

  it('reads the session timeout and digest credentials', () => {
    expect(zooKeeperOptionsFromEnv({ ZK_CONNECT: 'zk:2181', ZK_SESSION_TIMEOUT_MS: '12000', ZK_AUTH: AUTH })).toEqual({
      connect: 'zk:2181',
      sessionTimeoutMs: 12_000,
      auth: AUTH,
    });
  });

  it.each(['nocolon', ':password', 'user:'])('refuses ZK_AUTH %j with a message naming the expected form', (auth) => {
    expect(() => zooKeeperOptionsFromEnv({ ZK_CONNECT: 'zk:2181', ZK_AUTH: auth })).toThrow(
      /ZK_AUTH must be "user:password"/,
    );
  });

  it('refuses a session timeout that is not a positive integer', () => {
    expect(() => zooKeeperOptionsFromEnv({ ZK_CONNECT: 'zk:2181', ZK_SESSION_TIMEOUT_MS: '30s' })).toThrow(
      /ZK_SESSION_TIMEOUT_MS/,
    );
  });

  it('refuses a missing connect string', () => {
    expect(() => zooKeeperOptionsFromEnv({})).toThrow(/ZK_CONNECT/);
  });
});
