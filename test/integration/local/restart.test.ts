/**
 * Workers outlive a crash of npm start, as pods outlive the orchestrator: a
 * restart adopts them instead of starting duplicates, and its clean shutdown
 * stops them too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { OrchestrationView } from '../../../lib/orchestration/types.js';
import { getJson, isAlive, startMain, waitFor, type RunningMain } from './harness.js';

describe('npm start restarted after a crash', () => {
  let main: RunningMain | undefined;

  afterAll(async () => {
    await main?.stop();
    main?.cleanup();
  });

  it('adopts the running worker, starts no duplicate, and stops it on shutdown', async () => {
    main = await startMain();
    const response = await fetch(`${main.httpUrl}/v1/api/orchestrations/Thing/resources`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: ['t1'] }),
    });
    expect(response.status).toBe(200);
    const [podName, pid] = await waitFor(() => [...main!.workerPids()][0], 'a worker process for instance 0');
    const { port, mqttPort, dataDir } = main;

    main.child.kill('SIGKILL');
    await waitFor(
      () => (main!.child.exitCode !== null || main!.child.signalCode !== null ? true : undefined),
      'npm start to die',
    );
    expect(isAlive(pid)).toBe(true);

    const restartedAt = Date.now();
    main = await startMain({ dataDir, port, mqttPort });
    const view = await waitFor(
      async () => {
        const { body } = await getJson<OrchestrationView>(`${main!.httpUrl}/v1/api/orchestrations/Thing`);
        const zero = body.instances.find((instance) => instance.id === '0');
        // A heartbeat sent after the restart began can only have come through the new broker.
        return zero?.heartbeat && zero.heartbeat.at > restartedAt ? body : undefined;
      },
      'instance 0 heartbeating after the restart',
      30_000,
    );
    // A duplicate would be started by a reconcile run: let a few complete ones pass first.
    const reconcileRuns = (): number => main!.logs().filter((record) => record.msg === 'reconcile done').length;
    const runsBefore = reconcileRuns();
    await waitFor(
      () => (reconcileRuns() >= runsBefore + 3 ? true : undefined),
      'three more reconcile runs after the restart',
      30_000,
    );

    expect(view.instances.find((instance) => instance.id === '0')?.pod?.name).toBe(podName);
    expect([...main.workerPids()]).toEqual([[podName, pid]]);

    expect(await main.stop()).toBe(0);
    expect(isAlive(pid)).toBe(false);
    expect(main.workerPids().size).toBe(0);
  });
});
