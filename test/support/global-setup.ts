/**
 * One real ZooKeeper server for the whole test run. Suites isolate themselves
 * by using their own root path (see `uniqueRoot`). When ZooKeeper is not
 * installed the run fails here, loudly, with the install command.
 */
import type { TestProject } from 'vitest/node';
import { startZooKeeper, type RunningZooKeeper } from './zookeeper-server.js';

let server: RunningZooKeeper | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startZooKeeper();
  project.provide('zkConnect', server.connect);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
