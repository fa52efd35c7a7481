import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS, type KindConfig } from '../../lib/config/kinds.js';
import { InstanceRuntimeError, PodLimitError, podName, type InstanceRuntime } from '../../lib/instances/port.js';
import {
  POD_STATE_VARIABLE,
  ProcessRuntime,
  type ProcessPodState,
  type ProcessRuntimeOptions,
} from '../../lib/instances/processes.js';
import { findProcessByEnvironment } from '../../lib/instances/proc-usage.js';
import { processRuntimeOptionsFromEnv } from '../../lib/local/process-runtime-config.js';
import { Layout } from '../../lib/orchestration/layout.js';
import { openStore } from '../../lib/store/open.js';
import { ANY_VERSION } from '../../lib/store/port.js';
import { describeInstanceRuntimeContract } from './instances.contract.js';

const [THING, RULE] = DEFAULT_KINDS as [KindConfig, KindConfig];
const GRACE_MS = 300;
/**
 * A worker that, like a real one draining its work, outlives SIGTERM, so deletion shows a
 * terminating pod until SIGKILL (the ignored signal is inherited by `sleep`). It says
 * "ready" once the trap is set: a SIGTERM before that ends it at once, as it would a real
 * worker still booting, so tests wait for it (`whenReady`) before deleting.
 */
const STUBBORN_WORKER = { command: '/bin/sh', args: ['-c', "trap '' TERM; echo ready; while :; do sleep 1; done"] };
const READY_WORKER = ['-e', 'setInterval(() => {}, 1000)'];

const tempDirs: string[] = [];
const newStateDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-processes-'));
  tempDirs.push(dir);
  return dir;
};

const runtimeIn = (stateDir: string, overrides: Partial<ProcessRuntimeOptions> = {}): ProcessRuntime =>
  new ProcessRuntime({ ...STUBBORN_WORKER, stateDir, gracePeriodMs: GRACE_MS, ...overrides });

const stateOf = (stateDir: string, name: string): ProcessPodState =>
  JSON.parse(readFileSync(join(stateDir, 'pods', `${name}.json`), 'utf8')) as ProcessPodState;

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // Our children are reaped by this process; a zombie would still answer kill(pid, 0).
  return !/^\d+ \(.*\) Z/.test(existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '');
};

const logOf = (stateDir: string, name: string): string => {
  const path = join(stateDir, 'logs', `${name}.log`);
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
};

const whenReady = (stateDir: string, name: string): Promise<void> =>
  waitUntil(() => logOf(stateDir, name).includes('ready'));

/** The runtime as the contract sees it: create returns once the worker is ready, as a kubelet reports readiness. */
const readyOnCreate = (runtime: ProcessRuntime, stateDir: string): InstanceRuntime => ({
  description: runtime.description,
  async create(spec) {
    const outcome = await runtime.create(spec);
    if (outcome === 'created') await whenReady(stateDir, spec.name);
    return outcome;
  },
  delete: (kind, name) => runtime.delete(kind, name),
  list: (kind) => runtime.list(kind),
  usage: (kind) => runtime.usage(kind),
  close: () => runtime.close(),
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describeInstanceRuntimeContract('local processes', async () => {
  const stateDir = newStateDir();
  // Pod times on a clock only the test moves: however slow the machine, a deleted pod is terminating until the
  // test passes its grace period, never because real time ran out between two calls.
  const frozenAt = Date.now();
  let passed = 0;
  const runtime = runtimeIn(stateDir, { clock: () => frozenAt + passed });
  return {
    runtime: readyOnCreate(runtime, stateDir),
    async kill(name) {
      const { pid } = stateOf(stateDir, name);
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => !isRunning(pid));
    },
    async passGracePeriod() {
      passed += GRACE_MS;
    },
    async teardown() {
      await runtime.stopAll();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
});

describe('ProcessRuntime', () => {
  const runtimes: ProcessRuntime[] = [];
  const track = (runtime: ProcessRuntime): ProcessRuntime => {
    runtimes.push(runtime);
    return runtime;
  };

  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((runtime) => runtime.stopAll()));
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the pods of an earlier runtime to a new one over the same state directory, which can delete them', async () => {
    // Prepare
    const stateDir = newStateDir();
    const first = track(runtimeIn(stateDir, { command: process.execPath, args: READY_WORKER }));
    const name = podName(THING, '0', 1);
    await first.create({ kind: THING, instanceId: '0', name });
    const { pid } = stateOf(stateDir, name);

    // Act
    const second = track(runtimeIn(stateDir, { command: process.execPath, args: READY_WORKER }));
    const seen = await second.list(THING);
    const deleted = await second.delete(THING, name);
    await waitUntil(() => !isRunning(pid));
    const after = await second.list(THING);

    // Assess
    expect(seen).toMatchObject([{ name, instanceId: '0', phase: 'Running', terminating: false }]);
    expect(deleted).toBe('deleted');
    expect(after).toEqual([]);
  });

  it('finishes a deletion begun by an invocation that has since exited', async () => {
    // Prepare: a separate short-lived process creates and deletes the pod, as `sls invoke local` would.
    const stateDir = newStateDir();
    const name = podName(RULE, '1', 1);
    const script = `
      import { existsSync, readFileSync } from 'node:fs';
      import { ProcessRuntime } from ${JSON.stringify(resolve('lib/instances/processes.ts'))};
      const runtime = new ProcessRuntime({ ...${JSON.stringify(STUBBORN_WORKER)},
        stateDir: ${JSON.stringify(stateDir)}, gracePeriodMs: ${GRACE_MS}, stopOnClose: false });
      const kind = { resource: 'Rule', instanceName: 'iota-rules-engine', heartbeat: false, initInstances: 10 };
      await runtime.create({ kind, instanceId: '1', name: ${JSON.stringify(name)} });
      const log = ${JSON.stringify(join(stateDir, 'logs', `${name}.log`))};
      while (!existsSync(log) || !readFileSync(log, 'utf8').includes('ready')) await new Promise((r) => setTimeout(r, 20));
      await runtime.delete(kind, ${JSON.stringify(name)});
      await runtime.close();`;
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    const { pid, deletedAt } = stateOf(stateDir, name);
    // The grace period counted on a clock the test moves: the invocation's own exit may outlast a short one.
    let now = deletedAt!;
    const next = track(runtimeIn(stateDir, { clock: () => now }));

    // Act
    const during = await next.list(RULE);
    now = deletedAt! + GRACE_MS;
    const after = await next.list(RULE);

    // Assess
    expect(during).toMatchObject([{ name, terminating: true }]);
    expect(after).toEqual([]);
    expect(isRunning(pid)).toBe(false);
  });

  it('leaves no child running after stopAll, even one that ignores SIGTERM', async () => {
    // Prepare
    const stateDir = newStateDir();
    const runtime = track(runtimeIn(stateDir));
    const names = ['0', '1', '2'].map((id) => podName(THING, id, 1));
    for (const [id, name] of names.entries()) await runtime.create({ kind: THING, instanceId: String(id), name });
    await Promise.all(names.map((name) => whenReady(stateDir, name)));
    const pids = names.map((name) => stateOf(stateDir, name).pid);

    // Act
    await runtime.stopAll();

    // Assess
    expect(pids.filter(isRunning)).toEqual([]);
    expect(await runtime.list(THING)).toEqual([]);
  });

  it('keeps the pods running on close when told to, for invocations that exit after reconciling', async () => {
    // Prepare
    const stateDir = newStateDir();
    const runtime = runtimeIn(stateDir, { stopOnClose: false });
    const name = podName(THING, '0', 1);
    await runtime.create({ kind: THING, instanceId: '0', name });
    // Its SIGTERM trap set: the delete below leaves it terminating, for the SIGKILL that ends the test.
    await whenReady(stateDir, name);

    // Act
    await runtime.close();

    // Assess
    const survivor = track(runtimeIn(stateDir));
    expect(await survivor.list(THING)).toMatchObject([{ name, phase: 'Running' }]);
    await survivor.delete(THING, name);
    process.kill(stateOf(stateDir, name).pid, 'SIGKILL');
  });

  it('gives the worker its instance id, resource and pod name, and keeps its output in the log directory', async () => {
    // Prepare
    const stateDir = newStateDir();
    const logDir = join(stateDir, 'worker-logs');
    const runtime = track(
      runtimeIn(stateDir, {
        logDir,
        command: process.execPath,
        env: { GREETING: 'hello' },
        args: [
          '-e',
          'console.log([process.env.INSTANCE_ID, process.env.RESOURCE, process.env.POD_NAME, process.env.GREETING].join(" ")); setInterval(() => {}, 1000)',
        ],
      }),
    );
    const name = podName(RULE, '8', 2);

    // Act
    await runtime.create({ kind: RULE, instanceId: '8', name });
    const log = join(logDir, `${name}.log`);
    await waitUntil(() => existsSync(log) && readFileSync(log, 'utf8').includes('\n'));

    // Assess
    expect(readFileSync(log, 'utf8')).toBe(`8 Rule ${name} hello\n`);
  });

  describe('a creator killed between the spawn and writing the pid', () => {
    /** The state file such a creator leaves: the name reserved, no pid, the creator named. */
    const leaveReservation = (stateDir: string, name: string, creatorPid: number): string => {
      const path = join(stateDir, 'pods', `${name}.json`);
      mkdirSync(join(stateDir, 'pods'), { recursive: true });
      const reservation = {
        name,
        resource: 'Thing',
        instanceId: '0',
        pid: 0,
        startedAt: Date.now(),
        creator: { pid: creatorPid },
      };
      writeFileSync(path, JSON.stringify(reservation));
      return path;
    };
    /** The pid of a process that has exited: a creator that died. */
    const deadPid = async (): Promise<number> => {
      const child = spawn('/bin/true');
      await new Promise((resolve) => child.once('exit', resolve));
      return child.pid!;
    };

    it.skipIf(!existsSync('/proc/self/stat'))(
      'adopts the worker it left running, found by the state file in its environment, and deletes it like any pod',
      async () => {
        // Prepare: what the runtime gives every worker, and the orphan a killed creator leaves.
        const stateDir = newStateDir();
        const runtime = track(runtimeIn(stateDir, { command: process.execPath, args: READY_WORKER }));
        const started = podName(THING, '1', 1);
        await runtime.create({ kind: THING, instanceId: '1', name: started });
        const name = podName(THING, '0', 1);
        const path = leaveReservation(stateDir, name, await deadPid());
        const orphan = spawn(process.execPath, READY_WORKER, {
          detached: true,
          stdio: 'ignore',
          env: { PATH: process.env.PATH ?? '', [POD_STATE_VARIABLE]: path },
        });
        await waitUntil(() => readFileSync(`/proc/${orphan.pid}/environ`, 'utf8').includes(POD_STATE_VARIABLE));

        try {
          // Act
          const seen = await runtime.list(THING);
          const adopted = stateOf(stateDir, name);
          const deleted = await runtime.delete(THING, name);
          await waitUntil(() => !isRunning(orphan.pid!));
          const after = await runtime.list(THING);

          // Assess
          expect(
            findProcessByEnvironment(`${POD_STATE_VARIABLE}=${join(stateDir, 'pods', `${started}.json`)}`)?.pid,
          ).toBe(stateOf(stateDir, started).pid);
          expect(seen.find((pod) => pod.name === name)).toMatchObject({ instanceId: '0', phase: 'Running' });
          expect(adopted.pid).toBe(orphan.pid);
          expect(adopted).not.toHaveProperty('creator');
          expect(deleted).toBe('deleted');
          expect(after.map((pod) => pod.name)).toEqual([started]);
        } finally {
          if (isRunning(orphan.pid!)) process.kill(-orphan.pid!, 'SIGKILL');
        }
      },
    );

    it('drops the reservation when no worker started, so the instance can be created again', async () => {
      // Prepare
      const stateDir = newStateDir();
      const runtime = track(runtimeIn(stateDir, { command: process.execPath, args: READY_WORKER }));
      const name = podName(THING, '0', 1);
      leaveReservation(stateDir, name, await deadPid());

      // Act
      const seen = await runtime.list(THING);
      const created = await runtime.create({ kind: THING, instanceId: '0', name });

      // Assess
      expect(seen).toEqual([]);
      expect(created).toBe('created');
      expect(stateOf(stateDir, name).pid).toBeGreaterThan(0);
    });

    it('shows a pod its live creator is still starting as Pending, taking its place under the process limit', async () => {
      // Prepare: this test's own process is the creator, alive.
      const stateDir = newStateDir();
      const runtime = track(runtimeIn(stateDir, { command: process.execPath, args: READY_WORKER, maxProcesses: 1 }));
      const name = podName(THING, '0', 1);
      leaveReservation(stateDir, name, process.pid);

      // Act
      const seen = await runtime.list(THING);
      const refused = await runtime
        .create({ kind: THING, instanceId: '1', name: podName(THING, '1', 1) })
        .catch((e: unknown) => e);
      const deleted = await runtime.delete(THING, name);

      // Assess: the deletion is recorded for the creator to apply; nothing was signalled (this process lives on).
      expect(seen).toMatchObject([{ name, phase: 'Pending', terminating: false }]);
      expect(refused).toBeInstanceOf(PodLimitError);
      expect(deleted).toBe('deleted');
      expect(stateOf(stateDir, name)).toMatchObject({ pid: 0, deletedAt: expect.any(Number) });
      expect(await runtime.list(THING)).toMatchObject([{ name, phase: 'Pending', terminating: true }]);
    });
  });

  it('rejects with an InstanceRuntimeError and keeps no pod when the command cannot start', async () => {
    // Prepare
    const stateDir = newStateDir();
    const runtime = track(runtimeIn(stateDir, { command: join(stateDir, 'no-such-worker') }));

    // Act
    const error = await runtime
      .create({ kind: THING, instanceId: '0', name: podName(THING, '0', 1) })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InstanceRuntimeError);
    expect((error as Error).message).toMatch(/cannot start/);
    expect(await runtime.list(THING)).toEqual([]);
  });

  it.skipIf(!existsSync('/proc/self/stat'))(
    'never signals a process that took over the pid of a dead pod',
    async () => {
      // Prepare: a state file naming a live process that is not the pod it recorded (other start time).
      const stateDir = newStateDir();
      const bystander = spawn(process.execPath, READY_WORKER, { stdio: 'ignore' });
      await waitUntil(() => bystander.pid !== undefined);
      const name = podName(THING, '0', 1);
      const forged: ProcessPodState = {
        name,
        resource: 'Thing',
        instanceId: '0',
        pid: bystander.pid!,
        startedAt: 1,
        procStartTicks: 1,
      };
      await mkdir(join(stateDir, 'pods'), { recursive: true });
      writeFileSync(join(stateDir, 'pods', `${name}.json`), JSON.stringify(forged));
      const runtime = track(runtimeIn(stateDir));

      try {
        // Act
        const listed = await runtime.list(THING);
        const deleted = await runtime.delete(THING, name);

        // Assess
        expect(listed).toMatchObject([{ name, phase: 'Failed' }]);
        expect(deleted).toBe('deleted');
        expect(isRunning(bystander.pid!)).toBe(true);
        expect(await runtime.list(THING)).toEqual([]);
      } finally {
        bystander.kill('SIGKILL');
      }
    },
  );

  it.skipIf(!existsSync('/proc/self/stat'))(
    'reports CPU and resident memory from /proc, as percentages of the configured requests',
    async () => {
      // Prepare: a spinning worker against a request of 50 millicores and 64 MiB.
      const stateDir = newStateDir();
      const requests = { cpuMillis: 50, memoryBytes: 64 * 2 ** 20 };
      const runtime = track(runtimeIn(stateDir, { requests }));
      const busy = track(runtimeIn(stateDir, { command: process.execPath, args: ['-e', 'for (;;) {}'], requests }));
      await runtime.create({ kind: THING, instanceId: '0', name: podName(THING, '0', 1) });
      await busy.create({ kind: THING, instanceId: '1', name: podName(THING, '1', 1) });
      await runtime.usage(THING); // the first reading; the next call measures since it

      // Act
      await sleep(500);
      const usage = await runtime.usage(THING);

      // Assess
      const byId = Object.fromEntries(usage.map((u) => [u.instanceId, u]));
      expect(Object.keys(byId).sort()).toEqual(['0', '1']);
      const spinner = byId['1']!;
      // A spinning loop holds up to a core, however loaded the machine: well over a tenth of one,
      // twice its request, and never more than the machine has.
      expect(spinner.cpuPercent).toBeGreaterThan(200);
      expect(spinner.cpuPercent).toBe(spinner.cpuMillis * 2);
      expect(spinner.cpuMillis).toBeLessThanOrEqual(availableParallelism() * 1000 + 50);
      expect(byId['0']!.memoryBytes).toBeGreaterThan(1024 * 1024);
      expect(byId['0']!.memoryPercent).toBeCloseTo((byId['0']!.memoryBytes / requests.memoryBytes) * 100, 6);
    },
  );

  it.skipIf(!existsSync('/proc/self/stat'))('leaves the percentages out when no requests are configured', async () => {
    // Prepare
    const stateDir = newStateDir();
    const runtime = track(runtimeIn(stateDir, { usageSampleMs: 50 }));
    await runtime.create({ kind: RULE, instanceId: '0', name: podName(RULE, '0', 1) });

    // Act
    const usage = await runtime.usage(RULE);

    // Assess
    expect(usage).toHaveLength(1);
    expect(usage[0]).not.toHaveProperty('cpuPercent');
    expect(usage[0]).not.toHaveProperty('memoryPercent');
    expect(await runtime.usage(THING)).toEqual([]);
  });

  it.skipIf(!existsSync('/proc/self/stat'))(
    "shows the reference worker's CPU rise with the resources it serves and fall when they leave (WORKER_CPU_MS_PER_RESOURCE)",
    async () => {
      // Prepare: 4 Things at 250 CPU ms each per second, a full core, against a request of 100 millicores.
      const dataDir = newStateDir();
      const store = await openStore({ ZK_CONNECT: '', ORCH_DATA_DIR: dataDir });
      const layout = new Layout();
      const serve = (ids: string[], times: number): Promise<void> =>
        store.commit([
          { op: 'set', path: layout.resources('Thing', '0'), data: JSON.stringify({ ids }), version: ANY_VERSION },
          { op: 'set', path: layout.reload('Thing', '0'), data: JSON.stringify({ times }), version: ANY_VERSION },
        ]);
      await store.ensurePath(layout.resources('Thing', '0'));
      await store.ensurePath(layout.reload('Thing', '0'));
      await serve(['t1', 't2', 't3', 't4'], 1);
      const env = {
        ORCH_DATA_DIR: dataDir,
        HEARTBEAT_INTERVAL: '0',
        WORKER_CPU_MS_PER_RESOURCE: '250',
        LOCAL_WORKER_CPU_REQUEST_MILLIS: '100',
      };
      // Rates over the last second: the idle reading must not average in the busy seconds before it.
      const runtime = track(
        new ProcessRuntime(processRuntimeOptionsFromEnv(env, { gracePeriodMs: 5000, usageWindowMs: 1000 })),
      );
      const name = podName(THING, '0', 1);
      // Worker logs go to <ORCH_DATA_DIR>/logs.
      const log = (): string => logOf(dataDir, name);

      try {
        // Act
        await runtime.create({ kind: THING, instanceId: '0', name });
        await waitUntil(() => log().includes('serving 4 Things'), 30_000);
        await runtime.usage(THING);
        await sleep(1000);
        const [busy] = await runtime.usage(THING);
        await serve([], 2);
        await waitUntil(() => log().includes('serving 0 Things'), 10_000);
        await runtime.usage(THING);
        await sleep(1000);
        const [idle] = await runtime.usage(THING);

        // Assess: a spinning thread gets its share of a core however loaded the machine (a tenth
        // even with ten runnable threads on two cores): more than the worker's request.
        expect(busy?.cpuPercent).toBeGreaterThan(100);
        expect(idle?.cpuPercent).toBeLessThan(busy!.cpuPercent! / 2);
      } finally {
        await store.close();
      }
    },
  );
});
