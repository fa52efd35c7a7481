/**
 * The reconcile Lambda entry point's outcomes: a trigger that can never
 * succeed is dropped (not retried), and a run that reconciled no kind throws
 * so the invocation shows as an error. Under `sls invoke local` it starts
 * local worker processes only when INVOKE_LOCAL_WORKERS=1 asks. Runs the real
 * handler on the embedded store, as `sls invoke local` does.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/reconcile.js';
import { createApp } from '../../../lib/app.js';
import { silentLogger } from '../../../lib/log.js';

const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event', time: '2024-05-01T08:00:00Z' };
const saved = { ...process.env };
let dataDir: string;

afterEach(() => {
  process.env = { ...saved };
  rmSync(dataDir, { recursive: true, force: true });
});

describe('reconcile function', () => {
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'reconcile-fn-'));
    Object.assign(process.env, {
      IS_LOCAL: 'true',
      ORCH_DATA_DIR: dataDir,
      ORCH_RUNTIME: 'kubernetes',
      // Nothing listens on port 1: every pod list fails, so no kind can be reconciled.
      K8S_SERVER: 'https://127.0.0.1:1',
      K8S_TOKEN: 'test-token',
      K8S_CA_DATA: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    });
    delete process.env.ZK_CONNECT;
  });

  it('drops a malformed trigger, naming the field, instead of throwing for a retry', async () => {
    const response = await handler({ ...SCHEDULED, time: 'yesterday' });

    expect(response).toEqual({ status: 'dropped', reason: expect.stringMatching(/^time: /) });
  });

  it('throws when no kind could be reconciled, so the invocation counts as failed', async () => {
    await expect(handler(SCHEDULED, { awsRequestId: 'req-1' })).rejects.toMatchObject({
      name: 'ReconcileFailedError',
      kinds: ['Thing', 'Rule'],
    });
  });
});

describe('reconcile function under sls invoke local, on local worker processes', () => {
  /** Pids of the local workers, from the process runtime's state files. */
  const workerPids = (): number[] => {
    const pods = join(dataDir, 'instances', 'pods');
    if (!existsSync(pods)) return [];
    return (
      readdirSync(pods)
        .filter((file) => file.endsWith('.json'))
        .map((file) => (JSON.parse(readFileSync(join(pods, file), 'utf8')) as { pid: number }).pid)
        // 0: a start under way, no pid yet.
        .filter((pid) => pid > 0)
    );
  };
  const isAlive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'reconcile-fn-local-'));
    Object.assign(process.env, {
      IS_LOCAL: 'true',
      ORCH_DATA_DIR: dataDir,
      ORCH_RUNTIME: 'processes',
      // A stand-in worker that only stays up: this is about who starts it, not what it does.
      WORKER_COMMAND: `${process.execPath} -e setInterval(()=>{},1000)`,
    });
    for (const name of ['ZK_CONNECT', 'INVOKE_LOCAL_WORKERS']) delete process.env[name];
    const app = await createApp(process.env, { logger: silentLogger() });
    await app.orchestrator.assign('Thing', ['thing-1']);
    await app.close();
  });
  afterEach(() => {
    // What docs/invoke-local.md tells a person to do: stop each worker's process group.
    for (const pid of workerPids()) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
  });

  it('starts no worker and says how to get one, reporting the start it left out', async () => {
    const response = await handler(SCHEDULED);

    expect(workerPids()).toEqual([]);
    expect(response).toMatchObject({
      status: 'done',
      runtime: expect.stringContaining('read-only: sls invoke local starts and stops no local worker processes'),
      kinds: { Thing: { instances: 1, pods: 0, created: 0, failed: 1 } },
    });
    expect((response as { runtime: string }).runtime).toContain('INVOKE_LOCAL_WORKERS=1');
  });

  it('starts the worker when INVOKE_LOCAL_WORKERS=1 asks, and it outlives the invocation', async () => {
    process.env.INVOKE_LOCAL_WORKERS = '1';

    const response = await handler(SCHEDULED);

    expect(response).toMatchObject({ status: 'done', kinds: { Thing: { instances: 1, created: 1, failed: 0 } } });
    expect((response as { runtime: string }).runtime).not.toContain('read-only');
    const pids = workerPids();
    expect(pids).toHaveLength(1);
    expect(isAlive(pids[0]!)).toBe(true);
  });
});
