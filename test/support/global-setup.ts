/**
 * One real ZooKeeper server and one real PostgreSQL server for the whole test
 * run, started side by side. Suites isolate themselves: on ZooKeeper by their
 * own root path (see `uniqueRoot`), on PostgreSQL by their own database. When
 * either is not installed the run fails here, loudly, with the install command.
 *
 * PostgreSQL is started eagerly: initdb + start take about 1-1.5 s on two busy
 * cores, overlapped with ZooKeeper's own start, so a lazy per-file start would
 * save next to nothing and cost a cluster per file.
 */
import type { TestProject } from 'vitest/node';
import { type RunningPostgres, startPostgres } from './postgres-server.js';
import { type RunningZooKeeper, startZooKeeper } from './zookeeper-server.js';

let zooKeeper: RunningZooKeeper | undefined;
let postgres: RunningPostgres | undefined;

export async function setup(project: TestProject): Promise<void> {
  const [zk, pg] = await Promise.allSettled([startZooKeeper(), startPostgres()]);
  if (zk.status === 'fulfilled') zooKeeper = zk.value;
  if (pg.status === 'fulfilled') postgres = pg.value;
  const failed = [zk, pg].flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failed.length > 0) {
    await teardown();
    throw failed.length === 1 ? failed[0] : new AggregateError(failed, failed.map((e) => String(e)).join('\n'));
  }
  project.provide('zkConnect', zooKeeper!.connect);
  project.provide('pgUrl', postgres!.url);
}

export async function teardown(): Promise<void> {
  await Promise.all([zooKeeper?.stop(), postgres?.stop()]);
  zooKeeper = undefined;
  postgres = undefined;
}
