/**
 * The ceiling for writes through the store: raw node-zookeeper-client `setData`
 * loops, each of `concurrency` workers rewriting its own node as fast as the
 * server answers, spread over `sessions` client connections. The store
 * benchmark compares placements through the port against this.
 *
 * Run alone to print the raw rate at a few concurrencies against a throwaway server:
 *   npx tsx bench/zk-raw.ts
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import zookeeper from 'node-zookeeper-client';

export interface RawSetDataOptions {
  readonly connect: string;
  /** Workers writing at once, each to its own node. */
  readonly concurrency: number;
  readonly durationMs: number;
  readonly payload: string;
  /** Client connections the workers are spread over (round robin). Default 1. */
  readonly sessions?: number;
  /**
   * Instead of one setData, each write is the shape of a placement: one
   * transaction of three setData (node, resources, _reload) and one create
   * (the index entry). The floor for any atomic placement on the legacy layout.
   */
  readonly placementShape?: boolean;
}

const promised = <T>(start: (done: (error: unknown, value: T) => void) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));

async function connectClient(connect: string): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(connect, { sessionTimeout: 30_000 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ZooKeeper session with ${connect} within 10 s`)), 10_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  return client;
}

async function closeClient(client: zookeeper.Client): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    client.connectionManager.on('state', (state: number) => {
      if (state === -2) {
        clearTimeout(timer);
        resolve();
      }
    });
    client.close();
  });
}

export async function rawSetDataRate(options: RawSetDataOptions): Promise<{ opsPerSecond: number; ops: number }> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const sessions = Math.max(1, Math.min(Math.floor(options.sessions ?? 1), concurrency));
  const clients = await Promise.all(Array.from({ length: sessions }, () => connectClient(options.connect)));
  const [first] = clients;
  if (!first) throw new Error('no client');
  const root = `/bench-raw-${randomBytes(4).toString('hex')}`;
  const paths = Array.from({ length: concurrency }, (_, worker) => `${root}/w${worker}`);
  const data = Buffer.from(options.payload, 'utf8');
  try {
    await promised<string>((done) => first.mkdirp(root, done));
    await Promise.all(paths.map((path) => promised<string>((done) => first.create(path, data, done))));
    if (options.placementShape) {
      for (const path of paths) {
        for (const child of ['resources', '_reload', 'index'])
          await promised<string>((done) => first.create(`${path}/${child}`, data, done));
      }
    }

    let ops = 0;
    const started = performance.now();
    const deadline = started + options.durationMs;
    await Promise.all(
      paths.map(async (path, worker) => {
        const client = clients[worker % sessions] ?? first;
        for (let n = 0; performance.now() < deadline; n++) {
          if (options.placementShape) {
            await promised<unknown>((done) =>
              client
                .transaction()
                .setData(path, data, -1)
                .setData(`${path}/resources`, data, -1)
                .setData(`${path}/_reload`, data, -1)
                .create(`${path}/index/${n}`, data)
                .commit(done),
            );
          } else {
            await promised<zookeeper.Stat>((done) => client.setData(path, data, -1, done));
          }
          ops += 1;
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    return { ops, opsPerSecond: ops / (elapsedMs / 1000) };
  } finally {
    // Best effort (placement-shaped nodes have children and stay): the server is thrown away after the run.
    await Promise.all(
      paths.map((path) =>
        promised<void>((done) => first.remove(path, -1, (error) => done(error, undefined))).catch(() => undefined),
      ),
    );
    await promised<void>((done) => first.remove(root, -1, (error) => done(error, undefined))).catch(() => undefined);
    await Promise.all(clients.map(closeClient));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { startZooKeeper } = await import('../test/support/zookeeper-server.js');
  const zk = await startZooKeeper();
  const payload = JSON.stringify({ used: 4321, count: 5000, note: 'x'.repeat(60) });
  try {
    console.log(
      `raw setData, ${Buffer.byteLength(payload)}-byte payload, 5 s each, ZooKeeper at ${zk.connect} (forceSync=${process.env.ZK_FORCE_SYNC ?? 'yes'})`,
    );
    for (const [concurrency, sessions] of [
      [1, 1],
      [8, 1],
      [8, 8],
      [32, 8],
    ] as const) {
      const { opsPerSecond, ops } = await rawSetDataRate({
        connect: zk.connect,
        concurrency,
        sessions,
        durationMs: 5000,
        payload,
      });
      console.log(
        `  concurrency ${String(concurrency).padStart(2)}, sessions ${sessions}: ${Math.round(opsPerSecond).toString().padStart(6)} setData/s (${ops} ops)`,
      );
    }
  } finally {
    await zk.stop();
  }
}
