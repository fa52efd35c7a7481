/**
 * Overlapping reconcile runs on a shared ZooKeeper store: several Apps in one
 * process (as concurrent invocations) and several OS processes (as separate
 * Lambda containers). Whatever the interleaving, a silent instance is
 * recycled exactly once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../lib/app.js';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile, RECONCILE_LEASE, type ReconcileReport } from '../../../lib/reconcile/reconcile.js';
import {
  kubernetesRuntimeFor,
  names,
  silentLogger,
  START_AFTER_MS,
  startHarness,
  THING,
  type Harness,
} from './harness.js';

const SECOND = 1000;
const PROCESS_SCRIPT = fileURLToPath(new URL('./reconcile-process.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

const recycles = (reports: readonly ReconcileReport[]): string[] =>
  reports.flatMap((report) =>
    report.kinds.flatMap((kind) => kind.actions.filter((a) => a.type === 'recycle').map((a) => a.pod)),
  );

interface ReconcileProcess {
  /** Resolves once the process is connected and waits for `go()`; rejects if it exits first. */
  readonly ready: Promise<void>;
  /** Starts its run. */
  go(): void;
  /** For a test that gives up before `go()`: no process is left waiting. */
  kill(): void;
  /** Its report, once it has exited. */
  readonly report: Promise<ReconcileReport>;
}

/**
 * Spawns reconcile-process.ts, which connects, says "ready" and runs on "go":
 * a start barrier with no clock in it.
 */
function spawnReconcileProcess(env: NodeJS.ProcessEnv): ReconcileProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', PROCESS_SCRIPT], {
    cwd: REPO,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let announceReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (announceReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) announceReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on('error', () => undefined); // a process that died already: its exit says why
  const report = new Promise<ReconcileReport>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1);
      if (code === 0 && line && line !== 'ready') resolve(JSON.parse(line) as ReconcileReport);
      else reject(new Error(`reconcile process exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
  // Awaited by the caller; not an unhandled rejection if the caller gave up at `ready`.
  report.catch(() => undefined);
  return {
    ready: Promise.race([
      ready,
      report.then(() => Promise.reject(new Error('reconcile process exited before it was ready'))),
    ]),
    go: () => child.stdin.end('go\n'),
    kill: () => child.kill('SIGKILL'),
    report,
  };
}

describe('overlapping reconcile runs', () => {
  let h: Harness;
  const others: App[] = [];
  afterEach(async () => {
    await Promise.all(others.splice(0).map((app) => app.close()));
    await h?.close();
  });

  /** Four Thing instances, Running for minutes; instance 1 silent for 100 s. */
  const fleetWithOneSilent = async (): Promise<void> => {
    h = await startHarness({ adapter: 'zookeeper', kinds: [THING] });
    await h.instances(THING, 4);
    await h.run();
    h.advance(START_AFTER_MS); // the simulator starts due pods at the end of an advance
    h.advance(300 * SECOND);
    await h.beat(THING, ['0', '1', '2', '3']);
    h.advance(100 * SECOND);
    await h.beat(THING, ['0', '2', '3']);
  };
  const expectRecycledOnce = (): void => {
    expect(names(h.allPods(THING, '1'))).toEqual(['iota-dac-1-g1', 'iota-dac-1-g2']);
    expect(names(h.livePods(THING, '1'))).toEqual(['iota-dac-1-g2']);
    for (const id of ['0', '2', '3']) expect(names(h.allPods(THING, id))).toEqual([`iota-dac-${id}-g1`]);
  };

  it('skips a run while another holds the reconcile lease, touching nothing', async () => {
    await fleetWithOneSilent();
    const lease = await h.app.orchestrator.acquireLease(RECONCILE_LEASE, 'another-run', 60_000);

    const report = await h.run();

    expect(report).toMatchObject({
      status: 'skipped',
      skipped: { heldBy: 'another-run' },
      kinds: [],
      apiCalls: { list: 0, create: 0, delete: 0 },
    });
    expect(names(h.allPods(THING, '1'))).toEqual(['iota-dac-1-g1']);
    await h.app.orchestrator.releaseLease(lease);
  });

  it('recycles a silent instance exactly once when several containers reconcile at the same moment', async () => {
    await fleetWithOneSilent();
    for (let i = 0; i < 3; i++) {
      others.push(
        await createApp(h.testStore.env, {
          kinds: [THING],
          runtime: kubernetesRuntimeFor(h.sim.url, h.sim.token),
          logger: silentLogger,
        }),
      );
    }
    const run = (app: App) =>
      reconcile(app, {
        now: () => h.sim.now(),
        alerts: new MemoryAlertPublisher(silentLogger),
        metrics: new Metrics('test', {}, () => undefined),
      });

    const reports = await Promise.all([h.app, ...others].map(run));

    expectRecycledOnce();
    expect(recycles(reports)).toEqual(['iota-dac-1-g2']);
    expect(reports.some((report) => report.status === 'skipped')).toBe(true);
  });

  it('recycles a silent instance exactly once when two OS processes reconcile at the same moment', async () => {
    await fleetWithOneSilent();
    const env = {
      ...process.env,
      ...h.testStore.env,
      ORCH_KINDS: JSON.stringify([THING]),
      SIM_URL: h.sim.url,
      SIM_TOKEN: h.sim.token,
      SIM_NOW: String(h.sim.now()),
    };
    const processes = [spawnReconcileProcess(env), spawnReconcileProcess(env)];
    await Promise.all(processes.map((child) => child.ready)).catch((error: unknown) => {
      for (const child of processes) child.kill();
      throw error;
    });

    for (const child of processes) child.go();
    const reports = await Promise.all(processes.map((child) => child.report));

    expectRecycledOnce();
    expect(recycles(reports)).toEqual(['iota-dac-1-g2']);
    expect((await h.app.orchestrator.records('Thing')).get('1')).toMatchObject({
      action: 'recycled',
      pod: 'iota-dac-1-g2',
      generation: 2,
    });
  });
});
