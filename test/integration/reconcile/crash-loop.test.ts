/**
 * The crash-loop back-off with real local worker processes: a worker that
 * never sends a heartbeat, and one that exits as soon as it starts. The
 * reconcile runs and the process runtime share one injected clock, so minutes
 * of back-off pass in a few seconds of test while the processes are real.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { createApp, type App } from '../../../lib/app.js';
import { DEFAULT_KINDS, type KindConfig } from '../../../lib/config/kinds.js';
import { DEFAULT_SETTINGS } from '../../../lib/config/settings.js';
import { ProcessRuntime } from '../../../lib/instances/processes.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile, type ReconcileReport } from '../../../lib/reconcile/reconcile.js';
import { openTestStore, type TestStore } from '../../support/stores.js';
import { waitFor } from '../../support/wait.js';
import { silentLogger, T0 } from './harness.js';

const THING = DEFAULT_KINDS.find((kind) => kind.resource === 'Thing')!;
const RULE = DEFAULT_KINDS.find((kind) => kind.resource === 'Rule')!;
const SECOND = 1000;
/** npm start's timings: the starved host where a silent replacement was recycled 13 times in 2 min 10 s. */
const LOCAL_TIMINGS = { heartbeatTimeoutMs: 15 * SECOND, startupGraceMs: 10 * SECOND };
const RECONCILE_EVERY_MS = 10 * SECOND;

interface Fixture {
  readonly app: App;
  readonly runtime: ProcessRuntime;
  readonly clock: { now: number };
  /** One reconcile run at `now` (ms after T0). */
  run(atMs: number): Promise<ReconcileReport>;
  close(): Promise<void>;
}

async function startFixture(kind: KindConfig, workerScript: string): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'iota-crash-loop-'));
  const testStore: TestStore = await openTestStore('sqlite', 'crash-loop');
  const clock = { now: T0 };
  const now = (): number => clock.now;
  const runtime = new ProcessRuntime({
    command: process.execPath,
    args: ['-e', workerScript],
    stateDir: dir,
    gracePeriodMs: 2000,
    clock: now,
  });
  const app = await createApp(testStore.env, {
    store: testStore.store,
    kinds: [kind],
    settings: { ...DEFAULT_SETTINGS, ...LOCAL_TIMINGS },
    runtime,
    clock: now,
    logger: silentLogger,
    alerts: new MemoryAlertPublisher(),
  });
  await app.orchestrator.orchestrate(kind.resource, { initInstances: 1 }, 'test');
  return {
    app,
    runtime,
    clock,
    run(atMs) {
      clock.now = T0 + atMs;
      return reconcile(app, { metrics: new Metrics('test', {}, () => undefined) });
    },
    async close() {
      await app.close();
      await testStore.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs reconcile every 10 s of the injected clock up to `untilMs`; the seconds after T0 of the runs
 * that restarted the instance (recycled or replaced its worker). `beforeRun` lets real processes catch up.
 */
async function restartsOver(fixture: Fixture, untilMs: number, beforeRun?: () => Promise<void>): Promise<number[]> {
  const at: number[] = [];
  for (let t = 0; t <= untilMs; t += RECONCILE_EVERY_MS) {
    await beforeRun?.();
    const report = await fixture.run(t);
    if (report.kinds[0]!.actions.some((a) => a.ok && (a.type === 'recycle' || a.type === 'replace')))
      at.push(t / SECOND);
  }
  return at;
}

describe('crash-loop back-off with local worker processes', () => {
  let fixture: Fixture | undefined;
  afterEach(async () => {
    await fixture?.close();
    fixture = undefined;
  });

  it('recycles a worker that never heartbeats after back-offs of 10 s, 20 s, 40 s, 80 s …, and shows it', async () => {
    fixture = await startFixture(THING, 'setInterval(() => {}, 1 << 30)');

    // Without the back-off: a recycle every 20 s (each successor silent past its 10 s grace), 10 in 200 s.
    const recycled = await restartsOver(fixture, 200 * SECOND);
    const view = await fixture.app.orchestrator.describe('Thing');
    const live = (await fixture.runtime.list(THING)).filter((pod) => !pod.terminating);

    expect(recycled).toEqual([20, 40, 60, 100, 180]);
    expect(view.instances[0]).toMatchObject({
      restarts: 5,
      backoff: { streak: 5, delayMs: 160 * SECOND, until: T0 + 340 * SECOND, waiting: true, healthySince: null },
      pod: { name: 'iota-dac-0-g6' },
    });
    expect(live.map((pod) => [pod.name, pod.phase])).toEqual([['iota-dac-0-g6', 'Running']]);
  });

  it('drops the back-off once the worker has heartbeated for 10 min, so its next recycle is not delayed', async () => {
    fixture = await startFixture(THING, 'setInterval(() => {}, 1 << 30)');
    await restartsOver(fixture, 100 * SECOND);
    const beat = (atMs: number) =>
      fixture!.app.orchestrator.recordHeartbeats([{ resource: 'Thing', instanceId: '0', at: T0 + atMs }]);

    // The worker of the 4th recycle (at 100 s) comes up and heartbeats every minute for 10 min.
    for (let t = 120 * SECOND; t <= 720 * SECOND; t += 60 * SECOND) {
      await beat(t);
      await fixture.run(t);
    }
    const healed = (await fixture.app.orchestrator.describe('Thing')).instances[0]!;
    // Then it falls silent: recycled as soon as the heartbeat is past its timeout.
    const silentRun = await fixture.run(740 * SECOND);

    expect(healed).toMatchObject({ restarts: 4, backoff: null, health: 'healthy' });
    expect(silentRun.kinds[0]!.actions.filter((a) => a.ok).map((a) => a.type)).toEqual(['recycle']);
    expect((await fixture.app.orchestrator.describe('Thing')).instances[0]).toMatchObject({
      restarts: 5,
      backoff: { streak: 1, delayMs: 10 * SECOND },
    });
  });

  it('replaces a worker that exits at once after the same growing waits', async () => {
    fixture = await startFixture(RULE, 'process.exit(1)');
    const runtime = fixture.runtime;
    // Ten seconds pass between two runs: the worker started by one has exited before the next.
    const exited = () =>
      waitFor(async () => (await runtime.list(RULE)).every((pod) => pod.terminating || pod.phase === 'Failed'), {
        what: 'the worker to exit',
        timeoutMs: 10_000,
        intervalMs: 20,
      }).then(() => undefined);

    const replaced = await restartsOver(fixture, 200 * SECOND, exited);
    const view = await fixture.app.orchestrator.describe('Rule');

    // Seen dead at the run after each start: replaced at 10 s, then after waits of 10, 20, 40, 80 s.
    expect(replaced).toEqual([10, 20, 40, 80, 160]);
    expect(view.instances[0]).toMatchObject({ restarts: 5, backoff: { streak: 5, waiting: true } });
  });
});
