/**
 * A scale-in killed half-way: reconcile runs in its own OS process on a real
 * ZooKeeper and SIGKILLs itself right after its Nth store commit, for N across
 * the whole run (drain marks, moves, state writes, pod and node removal).
 * Whatever N, the state it leaves is consistent, and the next runs (a later
 * Lambda, once the dead run's leases have expired) finish the drain with
 * nothing lost.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { createApp } from '../../../lib/app.js';
import type { KindConfig } from '../../../lib/config/kinds.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile } from '../../../lib/reconcile/reconcile.js';
import { type Harness, kubernetesRuntimeFor, silentLogger, startHarness, THING } from './harness.js';
import { expectConsistent, ids, scriptLoad } from './scaling-support.js';

const SCRIPT = fileURLToPath(new URL('./crash-process.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const MINUTE = 60_000;
const RESOURCES = ids(600);
/** Later than any lease the killed run held (reconcile 60 s, orchestrate 25 s). */
const NEXT_RUN_OFFSET_MS = 5 * MINUTE;

const THING_SCALING_IN: KindConfig = {
  ...THING,
  scaling: {
    enabled: true,
    targetCpuUtilization: 60,
    minInstances: 3,
    scaleDownMaxStep: 3,
    scaleDownStabilizationSeconds: 0,
  },
};

/** Runs reconcile in a child process that dies after `crashAfter` commits; how many it made if it lived. */
function runKilledAfter(h: Harness, crashAfter: number): Promise<{ killed: boolean; commits?: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: REPO,
    env: {
      ...process.env,
      ...h.testStore.env,
      ORCH_KINDS: JSON.stringify([THING_SCALING_IN]),
      STARTUP_GRACE_SECONDS: '30',
      SIM_URL: h.sim.url,
      SIM_TOKEN: h.sim.token,
      SIM_NOW: String(h.sim.now()),
      CRASH_AFTER_COMMITS: String(crashAfter),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ killed: true });
      else if (code === 0) resolve({ killed: false, commits: (JSON.parse(stdout) as { commits: number }).commits });
      else reject(new Error(`reconcile process exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

describe('a scale-in killed half-way', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** Six serving instances of 100 resources each, at 15 % of a 60 % target: the next run drains three. */
  const coolFleetOfSix = async (): Promise<Harness> => {
    const harness = await startHarness({
      adapter: 'zookeeper',
      kinds: [THING_SCALING_IN],
      settings: { startupGraceMs: 30_000 },
    });
    const load = scriptLoad(harness, THING_SCALING_IN);
    load.millisPerResource = 0.375; // 100 × 0.375 m = 37.5 m of 250 m
    await harness.instances(THING_SCALING_IN, 6);
    await harness.app.orchestrator.assign('Thing', RESOURCES);
    h = harness;
    await load.run(0); // creates the pods
    // Serving and past the grace: the heartbeats and the usage are what the killed run sees.
    harness.advance(MINUTE);
    await harness.beat(THING_SCALING_IN, ['0', '1', '2', '3', '4', '5']);
    return harness;
  };

  /** Reconcile as the next scheduled Lambda would: a fresh App, minutes later. */
  const recover = async (harness: Harness): Promise<void> => {
    const later = await createApp(harness.testStore.env, {
      kinds: [THING_SCALING_IN],
      settings: { ...harness.app.settings },
      runtime: kubernetesRuntimeFor(harness.sim.url, harness.sim.token),
      logger: silentLogger,
      clock: () => Date.now() + NEXT_RUN_OFFSET_MS,
    });
    try {
      for (let run = 0; run < 4; run++) {
        const instances = await harness.app.orchestrator.read('Thing');
        if (instances.length === 3 && instances.every((instance) => instance.count > 0)) return;
        harness.advance(MINUTE);
        await harness.beat(THING_SCALING_IN, ['0', '1', '2']);
        await reconcile(later, {
          now: () => harness.sim.now(),
          alerts: new MemoryAlertPublisher(silentLogger),
          metrics: new Metrics('test', {}, () => undefined),
        });
      }
    } finally {
      await later.close();
    }
  };

  it('leaves a consistent state at every commit, and the next run finishes the drain with nothing lost', async () => {
    // An uninterrupted run first: how many commits a whole drain makes.
    const whole = await runKilledAfter(await coolFleetOfSix(), Number.MAX_SAFE_INTEGER);
    expect(whole.killed).toBe(false);
    const commits = whole.commits!;
    const final = await h!.app.orchestrator.read('Thing');
    expect(final.map((instance) => [instance.id, instance.used])).toEqual([
      ['0', 200],
      ['1', 200],
      ['2', 200],
    ]);
    await h!.close();
    h = undefined;

    const step = Math.max(1, Math.floor(commits / 8));
    let leftMidDrain = 0;
    for (let crashAfter = 1; crashAfter < commits; crashAfter += step) {
      const harness = await coolFleetOfSix();
      const outcome = await runKilledAfter(harness, crashAfter);
      expect(outcome.killed, `killed after commit ${crashAfter}`).toBe(true);
      await expectConsistent(harness, 'Thing', RESOURCES);
      const left = await harness.app.orchestrator.read('Thing');
      if (left.length > 3) leftMidDrain += 1;

      await recover(harness);

      await expectConsistent(harness, 'Thing', RESOURCES);
      const after = await harness.app.orchestrator.read('Thing');
      expect(
        after.map((instance) => [instance.id, instance.used, instance.count]),
        `after a kill at commit ${crashAfter}`,
      ).toEqual([
        ['0', 200, 5000],
        ['1', 200, 5000],
        ['2', 200, 5000],
      ]);
      for (const id of ['3', '4', '5']) expect(harness.livePods(THING_SCALING_IN, id)).toEqual([]);
      await harness.close();
      h = undefined;
    }
    // The sweep really stopped runs in the middle of a drain, not only before or after it.
    expect(leftMidDrain).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
