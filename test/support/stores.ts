/**
 * Opens a fresh store of each adapter for a test: real ZooKeeper (from the
 * global setup) under its own root, or SQLite in its own temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { openStore } from '../../lib/store/open.js';
import type { NodeStore } from '../../lib/store/port.js';
import { uniqueRoot } from './paths.js';

export interface TestStore {
  store: NodeStore;
  /** Env that points another process (or createApp) at the same store. */
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export const STORE_ADAPTERS = ['zookeeper', 'sqlite'] as const;
export type StoreAdapter = (typeof STORE_ADAPTERS)[number];

export async function openTestStore(adapter: StoreAdapter, label = 'store'): Promise<TestStore> {
  if (adapter === 'zookeeper') {
    const root = uniqueRoot(label);
    const env = {
      ZK_CONNECT: inject('zkConnect'),
      ZK_ROOT: `${root}/orchestration`,
      ZK_STATE_ROOT: `${root}/orchestrator`,
    };
    const store = await openStore(env);
    return { store, env, cleanup: () => store.close() };
  }
  const dir = mkdtempSync(join(tmpdir(), `iota-${label}-`));
  const env = { ZK_CONNECT: '', ORCH_DATA_DIR: dir };
  const store = await openStore(env);
  return {
    store,
    env,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
