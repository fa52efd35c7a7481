/**
 * A Lambda entry point run as `sls invoke local` runs it, in a test: IS_LOCAL
 * (a fresh App per invocation) on an embedded store in a temporary directory
 * of its own, no ZooKeeper, quiet logs; the environment restored afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { createApp } from '../../lib/app.js';
import { silentLogger } from '../../lib/log.js';

/** Registers the hooks; `extra` is set (and `unset` removed) for each test too. */
export function useLocalLambdaEnv(label: string, extra: Record<string, string> = {}, unset: string[] = []): void {
  const saved = { ...process.env };
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), `${label}-`));
    Object.assign(process.env, { IS_LOCAL: 'true', ORCH_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...extra });
    for (const name of ['ZK_CONNECT', ...unset]) delete process.env[name];
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(dataDir, { recursive: true, force: true });
  });
}

/** Where each id of the kind is placed, read by an App of its own on the same embedded store. */
export async function placedOn(resource: string, ids: readonly string[]): Promise<Array<string | undefined>> {
  const app = await createApp(process.env, { logger: silentLogger() });
  try {
    return await Promise.all(ids.map((id) => app.orchestrator.locate(resource, id)));
  } finally {
    await app.close();
  }
}
