/**
 * The local process runtime's cap on running workers (LOCAL_MAX_PROCESSES):
 * the runtime refuses a create past it, reconcile stops creating and raises a
 * pod-limit alert, and an orchestrate that would need more workers than the
 * cap is refused with 409 before anything is written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { createApp, type App } from '../../../lib/app.js';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { handleHttp } from '../../../lib/handlers/http.js';
import { PodLimitError } from '../../../lib/instances/port.js';
import { ProcessRuntime } from '../../../lib/instances/processes.js';
import { toHttpApiEvent } from '../../../lib/local/http-server.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile } from '../../../lib/reconcile/reconcile.js';
import { openTestStore, type TestStore } from '../../support/stores.js';
import { silentLogger } from './harness.js';

const THING = DEFAULT_KINDS.find((kind) => kind.resource === 'Thing')!;
const RULE = DEFAULT_KINDS.find((kind) => kind.resource === 'Rule')!;
const IDLE_WORKER = 'setInterval(() => {}, 1 << 30)';

describe('the local runtime at its process limit', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  const runtimeWithLimit = (maxProcesses: number): ProcessRuntime => {
    const dir = mkdtempSync(join(tmpdir(), 'iota-pod-limit-'));
    const runtime = new ProcessRuntime({
      command: process.execPath,
      args: ['-e', IDLE_WORKER],
      stateDir: dir,
      maxProcesses,
    });
    cleanups.push(async () => {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return runtime;
  };

  const appWith = async (runtime: ProcessRuntime, alerts?: MemoryAlertPublisher): Promise<App> => {
    const testStore: TestStore = await openTestStore('sqlite', 'pod-limit');
    const app = await createApp(testStore.env, {
      store: testStore.store,
      kinds: DEFAULT_KINDS,
      runtime,
      logger: silentLogger,
      ...(alerts ? { alerts } : {}),
    });
    cleanups.push(async () => {
      await app.close();
      await testStore.cleanup();
    });
    return app;
  };

  it('refuses creates past its limit, counting every kind, and takes one again once a worker is deleted', async () => {
    const runtime = runtimeWithLimit(2);

    const outcomes = await Promise.allSettled([
      runtime.create({ kind: THING, instanceId: '0', name: 'iota-dac-0-g1' }),
      runtime.create({ kind: RULE, instanceId: '0', name: 'iota-rules-engine-0-g1' }),
      runtime.create({ kind: THING, instanceId: '1', name: 'iota-dac-1-g1' }),
      runtime.create({ kind: RULE, instanceId: '1', name: 'iota-rules-engine-1-g1' }),
    ]);
    const refusal = outcomes.find((outcome) => outcome.status === 'rejected')?.reason as PodLimitError;
    await runtime.delete(THING, 'iota-dac-0-g1');
    const afterDelete = await runtime.create({ kind: RULE, instanceId: '1', name: 'iota-rules-engine-1-g1' });
    const live = [...(await runtime.list(THING)), ...(await runtime.list(RULE))].filter((pod) => !pod.terminating);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect(refusal).toBeInstanceOf(PodLimitError);
    expect(refusal).toMatchObject({ running: 2, limit: { max: 2, setting: 'LOCAL_MAX_PROCESSES' } });
    expect(refusal.message).toBe('create iota-dac-1-g1: 2 pods already run, the limit (LOCAL_MAX_PROCESSES=2)');
    expect(afterDelete).toBe('created');
    expect(live.map((pod) => pod.name).sort()).toEqual(['iota-rules-engine-0-g1', 'iota-rules-engine-1-g1']);
  });

  it('stops creating at the limit and raises one pod-limit alert, not one per run', async () => {
    const alerts = new MemoryAlertPublisher();
    const runtime = runtimeWithLimit(1);
    const app = await appWith(runtime, alerts);
    await app.orchestrator.orchestrate('Thing', { initInstances: 5 }, 'test');
    const run = () => reconcile(app, { metrics: new Metrics('test', {}, () => undefined) });

    const first = await run();
    const second = await run();
    const records = await app.orchestrator.records('Thing');
    const live = (await runtime.list(THING)).filter((pod) => !pod.terminating && pod.phase === 'Running');

    // Slow start: instance 0 alone, then 1 and 2 together (both refused), then no more this run.
    expect(live.map((pod) => pod.instanceId)).toEqual(['0']);
    expect(records.get('1')).toMatchObject({
      action: 'error',
      error: expect.stringContaining('LOCAL_MAX_PROCESSES=1'),
    });
    expect(records.get('2')).toMatchObject({ action: 'error' });
    expect(first.kinds[0]!.deferred).toEqual(['3', '4']);
    expect(second.apiCalls.create).toBe(1);
    expect(alerts.alerts).toEqual([
      {
        type: 'pod-limit',
        resource: 'Thing',
        refused: 'create',
        limit: 1,
        setting: 'LOCAL_MAX_PROCESSES',
        pods: 1,
        instances: ['1', '2', '3', '4'],
        at: expect.any(Number),
      },
    ]);
  });

  it('answers 409 to an orchestrate that needs more workers than the limit, writes nothing, and alerts', async () => {
    const app = await appWith(runtimeWithLimit(16));
    const orchestrate = async (resource: string, body: unknown) => {
      const response = await handleHttp(
        app,
        toHttpApiEvent({
          method: 'POST',
          url: `/v1/api/orchestrations/${resource}/orchestrate`,
          headers: { 'content-type': ['application/json'] },
          body: JSON.stringify(body),
          sourceIp: '127.0.0.1',
          requestId: `req-${resource}`,
          now: Date.now(),
        }),
      );
      return { status: response.statusCode, body: JSON.parse(response.body ?? '{}') as Record<string, unknown> };
    };

    const hundred = await orchestrate('Thing', { initInstances: 100 });
    const instancesAfterRefusal = await app.orchestrator.instanceIds('Thing');
    const twelve = await orchestrate('Thing', { initInstances: 12 });
    const rulesOverTheTop = await orchestrate('Rule', { initInstances: 5 });
    const fewerThings = await orchestrate('Thing', { initInstances: 10 });
    const stored = await app.alertOutbox.list();

    expect(hundred).toEqual({
      status: 409,
      body: {
        error: 'POD_LIMIT',
        message:
          'orchestrate would run 100 Thing instances and 0 of other kinds, 100 pods; the instance runtime runs at most 16 ' +
          '(LOCAL_MAX_PROCESSES): ask for fewer or raise LOCAL_MAX_PROCESSES',
        details: { resource: 'Thing', instances: 100, otherKinds: 0, limit: 16, setting: 'LOCAL_MAX_PROCESSES' },
      },
    });
    expect(instancesAfterRefusal).toEqual([]);
    expect(twelve.status).toBe(200);
    expect(rulesOverTheTop).toMatchObject({ status: 409, body: { details: { instances: 5, otherKinds: 12 } } });
    expect(fewerThings.status).toBe(200);
    expect(stored.map((entry) => entry.alert).sort((a, b) => a.resource.localeCompare(b.resource))).toEqual([
      expect.objectContaining({ type: 'pod-limit', resource: 'Rule', refused: 'orchestrate', pods: 17, limit: 16 }),
      expect.objectContaining({ type: 'pod-limit', resource: 'Thing', refused: 'orchestrate', pods: 100, limit: 16 }),
    ]);
  });
});
