/**
 * The reconcile Lambda entry point's outcomes: a trigger that can never
 * succeed is dropped (not retried), and a run that reconciled no kind throws
 * so the invocation shows as an error. Runs the real handler on the embedded
 * store, as `sls invoke local` does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/reconcile.js';

const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event', time: '2024-05-01T08:00:00Z' };
const saved = { ...process.env };
let dataDir: string;

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
afterEach(() => {
  process.env = { ...saved };
  rmSync(dataDir, { recursive: true, force: true });
});

describe('reconcile function', () => {
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
