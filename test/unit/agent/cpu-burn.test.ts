/**
 * The reference worker's synthetic cost: CPU burnt per served resource, on a thread of its
 * own. Usage is measured as process CPU time over elapsed time. The burn spins for wall time,
 * so a loaded machine gives it less: the lower bound is a tenth of a core, which a spinning
 * thread gets even with ten runnable threads on two cores, and ten times what the idle
 * process uses. Heartbeats are awaited, not timed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CpuBurner } from '../../../lib/agent/cpu-burn.js';
import type { HeartbeatMessage, HeartbeatSender } from '../../../lib/agent/heartbeat-sender.js';
import { startWorker, type RunningWorker } from '../../../lib/agent/worker.js';
import { Layout } from '../../../lib/orchestration/layout.js';
import { ANY_VERSION } from '../../../lib/store/port.js';
import { openTestStore, type TestStore } from '../../support/stores.js';

/** Cores this process used (all its threads) while `action` ran. */
async function coresUsedWhile(action: () => Promise<unknown>): Promise<number> {
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  await action();
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000 / (performance.now() - startedAt);
}

class RecordingSender implements HeartbeatSender {
  readonly description = 'recording';
  readonly sent: HeartbeatMessage[] = [];
  async send(message: HeartbeatMessage) {
    this.sent.push(message);
    return 'sent' as const;
  }
  async close() {}
}

/** Resolves once `count` more heartbeats than now have been sent. */
const heartbeats = (sender: RecordingSender, count: number): Promise<void> => {
  const target = sender.sent.length + count;
  return expect.poll(() => sender.sent.length, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(target);
};

describe('CpuBurner', () => {
  it('burns CPU on its own thread at the rate asked for, and ends its thread on stop', async () => {
    // Prepare
    const burner = new CpuBurner();

    try {
      // Act
      burner.set(1000);
      const cores = await coresUsedWhile(() => new Promise((resolve) => setTimeout(resolve, 600)));

      // Assess
      expect(burner.msPerSecond()).toBe(1000);
      expect(cores).toBeGreaterThan(0.1);
    } finally {
      await burner.stop();
    }
    expect(burner.msPerSecond()).toBe(0);
  });

  it('caps the rate at one core and floors it at zero', async () => {
    const burner = new CpuBurner();
    try {
      burner.set(5000);
      expect(burner.msPerSecond()).toBe(1000);
      burner.set(-3);
      expect(burner.msPerSecond()).toBe(0);
    } finally {
      await burner.stop();
    }
  });
});

describe('reference worker with a CPU cost per resource', () => {
  let testStore: TestStore;
  let layout: Layout;
  const workers: RunningWorker[] = [];

  beforeEach(async () => {
    testStore = await openTestStore('sqlite', 'burn');
    layout = new Layout();
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    await testStore.cleanup();
  });

  /** Writes the instance's list and bumps `_reload`, as the orchestrator does. */
  const serve = async (ids: readonly string[], times: number): Promise<void> => {
    const resources = layout.resources('Thing', '0');
    const reload = layout.reload('Thing', '0');
    const [existing] = await testStore.store.getMany([resources]);
    const data = JSON.stringify({ ids });
    if (!existing) {
      await testStore.store.ensurePath(layout.instance('Thing', '0'));
      await testStore.store.commit([
        { op: 'create', path: resources, data },
        { op: 'create', path: reload, data: JSON.stringify({ times }) },
      ]);
      return;
    }
    await testStore.store.commit([
      { op: 'set', path: resources, data, version: ANY_VERSION },
      { op: 'set', path: reload, data: JSON.stringify({ times }), version: ANY_VERSION },
    ]);
  };

  const start = async (cpuMsPerResource: number, sender?: RecordingSender): Promise<RunningWorker> => {
    const worker = await startWorker({
      instanceId: '0',
      resource: 'Thing',
      podName: 'iota-dac-0-g1',
      store: testStore.store,
      cpuMsPerResource,
      ...(sender ? { heartbeat: sender, heartbeatIntervalMs: 50 } : {}),
    });
    workers.push(worker);
    return worker;
  };

  it('uses more CPU with its resources and still heartbeats at its interval, even burning a full core', async () => {
    // Prepare: 4 resources at 250 ms each is a full core, which on the main thread would stop every timer.
    await serve(['t1', 't2', 't3', 't4'], 1);
    const sender = new RecordingSender();

    // Act
    const worker = await start(250, sender);
    const cores = await coresUsedWhile(() => heartbeats(sender, 10));

    // Assess
    expect(worker.cpuBurnMsPerSecond()).toBe(1000);
    expect(cores).toBeGreaterThan(0.1);
    expect(sender.sent.at(-1)).toMatchObject({ resources: 4 });
  });

  it('follows its resource count as the list reloads', async () => {
    // Prepare
    await serve(['t1', 't2'], 1);
    const worker = await start(20);
    expect(worker.cpuBurnMsPerSecond()).toBe(40);

    // Act
    await serve(['t1', 't2', 't3', 't4', 't5'], 2);
    await expect.poll(() => worker.cpuBurnMsPerSecond(), { timeout: 10_000 }).toBe(100);
    await serve([], 3);

    // Assess
    await expect.poll(() => worker.cpuBurnMsPerSecond(), { timeout: 10_000 }).toBe(0);
  });

  it('burns nothing when the setting is off, and stops burning on stop', async () => {
    // Prepare
    await serve(['t1', 't2', 't3', 't4'], 1);
    const off = await start(0);
    const burning = await start(250);

    // Act
    await burning.stop();
    const cores = await coresUsedWhile(() => new Promise((resolve) => setTimeout(resolve, 500)));

    // Assess
    expect(off.cpuBurnMsPerSecond()).toBe(0);
    expect(burning.cpuBurnMsPerSecond()).toBe(0);
    expect(cores).toBeLessThan(0.1);
  });
});
