/**
 * Picks the store from the environment: ZooKeeper when ZK_CONNECT is set,
 * otherwise the embedded SQLite file in ORCH_DATA_DIR (default `.data`).
 */
import { resolve } from 'node:path';
import type { NodeStore } from './port.js';
import { ZooKeeperStore, zooKeeperOptionsFromEnv } from './zookeeper.js';

export const DEFAULT_DATA_DIR = '.data';

export async function openStore(env: NodeJS.ProcessEnv = process.env): Promise<NodeStore> {
  if (env.ZK_CONNECT?.trim()) return ZooKeeperStore.connect(zooKeeperOptionsFromEnv(env));
  // Loaded only here, so a Lambda bundle configured for ZooKeeper never loads the native module.
  const { SqliteStore } = await import('./sqlite.js');
  return SqliteStore.open({ dataDir: resolve(env.ORCH_DATA_DIR?.trim() || DEFAULT_DATA_DIR) });
}
