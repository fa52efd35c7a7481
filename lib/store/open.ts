/**
 * Picks the store from the environment: ZooKeeper when ZK_CONNECT is set,
 * otherwise the embedded SQLite file in ORCH_DATA_DIR (default `.data`).
 */
import { resolve } from 'node:path';
import { type SecretReader, secretReaderFromEnv } from '../secrets.js';
import type { NodeStore } from './port.js';
import { ZooKeeperStore, zooKeeperOptionsWithSecret } from './zookeeper.js';

export const DEFAULT_DATA_DIR = '.data';

/** The absolute data directory, so every process (workers too) finds the same store whatever its working directory. */
export const dataDirOf = (env: NodeJS.ProcessEnv): string => resolve(env.ORCH_DATA_DIR?.trim() || DEFAULT_DATA_DIR);

/** `secrets` reads ZK_AUTH_SECRET, before the session opens (default: Secrets Manager as `env` configures it). */
export async function openStore(
  env: NodeJS.ProcessEnv = process.env,
  secrets: SecretReader = secretReaderFromEnv(env),
): Promise<NodeStore> {
  if (env.ZK_CONNECT?.trim()) return ZooKeeperStore.connect(await zooKeeperOptionsWithSecret(env, secrets));
  // A deployed function has no disk worth keeping and no native module in its bundle: say what is missing.
  if (env.AWS_LAMBDA_FUNCTION_NAME && env.IS_LOCAL !== 'true') {
    throw new Error(
      'ZK_CONNECT is not set: a deployed function needs ZooKeeper (deploy with --param="zkConnect=host:2181,...")',
    );
  }
  // Loaded only here, so a Lambda bundle configured for ZooKeeper never loads the native module.
  const { SqliteStore } = await import('./sqlite.js');
  return SqliteStore.open({ dataDir: dataDirOf(env) });
}
