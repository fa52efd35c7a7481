/**
 * The reconcile loop at full pool size: 100 instances per kind.
 * 1. The pure decision: time per `decide` call (median over many calls).
 * 2. Full runs against the Kubernetes API simulator over HTTP, on an embedded
 *    SQLite store: a cold start (200 pods to create), a steady run (nothing to
 *    do) and a disrupted run (silent and failed pods). For each: wall time,
 *    Kubernetes API requests by verb (the target is one LIST per kind, never a
 *    GET per instance) and store writes. Prints figures; asserts nothing.
 *
 *   npx tsx bench/reconcile.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { MemoryAlertPublisher } from '../lib/alerts.js';
import { createApp } from '../lib/app.js';
import { DEFAULT_KINDS, type KindConfig } from '../lib/config/kinds.js';
import { DEFAULT_SETTINGS } from '../lib/config/settings.js';
import { KubernetesRuntime } from '../lib/instances/kubernetes.js';
import { podTemplateLoader } from '../lib/instances/pod-template.js';
import { podName, type PodInfo } from '../lib/instances/port.js';
import { Metrics } from '../lib/metrics.js';
import type { InstanceRecord } from '../lib/orchestration/types.js';
import { decide, DEFAULT_RECONCILE_SETTINGS, type ReconcileInput } from '../lib/reconcile/decide.js';
import { reconcile, type ReconcileReport } from '../lib/reconcile/reconcile.js';
import { openStore } from '../lib/store/open.js';
import type { NodeStore, WriteOp } from '../lib/store/port.js';
import { K8sSimulator } from '../test/support/k8s-simulator.js';

type Log = (line: string) => void;

const INSTANCES = 100;
const DECIDE_CALLS = 2000;
const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);
const TEMPLATES_DIR = fileURLToPath(new URL('../infra/templates', import.meta.url));
const silent = pino({ level: 'silent' });

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** 100 instances with Running pods; a few silent, one failed, one with a terminating predecessor, one orphan. */
function decisionInput(kind: KindConfig): ReconcileInput {
  const ids = Array.from({ length: INSTANCES }, (_, i) => String(i));
  const pods: PodInfo[] = [];
  const heartbeats = new Map<string, { at: number }>();
  const records = new Map<string, InstanceRecord>();
  for (const id of ids) {
    const generation = 1 + (Number(id) % 4);
    const name = podName(kind, id, generation);
    const n = Number(id);
    pods.push({
      name,
      resource: kind.resource,
      instanceId: id,
      phase: n === 7 ? 'Failed' : 'Running',
      startedAt: T0 - 600_000,
      terminating: false,
    });
    if (n % 10 === 3)
      pods.push({
        name: podName(kind, id, generation - 1 || 9),
        resource: kind.resource,
        instanceId: id,
        phase: 'Running',
        startedAt: T0 - 900_000,
        terminating: true,
      });
    heartbeats.set(id, { at: n % 25 === 0 ? T0 - 200_000 : T0 - 10_000 });
    records.set(id, { action: 'created', reason: 'no pod', pod: name, generation, at: T0 - 600_000, phase: 'Running' });
  }
  pods.push({
    name: podName(kind, '150', 1),
    resource: kind.resource,
    instanceId: '150',
    phase: 'Running',
    startedAt: T0 - 600_000,
    terminating: false,
  });
  return { kind, settings: DEFAULT_RECONCILE_SETTINGS, now: T0, instanceIds: ids, heartbeats, pods, records };
}

function benchDecide(log: Log): void {
  log(`  decide(): ${INSTANCES} instances, ${INSTANCES + 11} pods, median of ${DECIDE_CALLS} calls`);
  for (const kind of DEFAULT_KINDS) {
    const input = decisionInput(kind);
    for (let i = 0; i < 200; i++) decide(input); // warm-up
    const times: number[] = [];
    let actions = 0;
    for (let i = 0; i < DECIDE_CALLS; i++) {
      const started = performance.now();
      const decision = decide(input);
      times.push(performance.now() - started);
      actions = decision.actions.length + decision.orphans.length;
    }
    log(
      `    ${kind.resource.padEnd(5)} median ${(median(times) * 1000).toFixed(0)} µs, p99 ${(times.sort((a, b) => a - b)[Math.floor(times.length * 0.99)]! * 1000).toFixed(0)} µs (${actions} actions decided)`,
    );
  }
}

/** Counts store writes (commits and the ops in them) made through it. */
function countingStore(inner: NodeStore): {
  store: NodeStore;
  writes: () => { commits: number; ops: number };
  reset(): void;
} {
  let commits = 0;
  let ops = 0;
  const store: NodeStore = {
    get description() {
      return inner.description;
    },
    get: (path) => inner.get(path),
    getMany: (paths) => inner.getMany(paths),
    children: (path) => inner.children(path),
    commit: (list: readonly WriteOp[]) => {
      commits++;
      ops += list.length;
      return inner.commit(list);
    },
    ensurePath: (path) => inner.ensurePath(path),
    watch: (path, onChange) => inner.watch(path, onChange),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return {
    store,
    writes: () => ({ commits, ops }),
    reset: () => {
      commits = 0;
      ops = 0;
    },
  };
}

async function benchFullRuns(log: Log): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iota-bench-reconcile-'));
  const sim = await K8sSimulator.start({ now: T0, startAfterMs: 5000 });
  const counted = countingStore(await openStore({ ORCH_DATA_DIR: dir }));
  const runtime = new KubernetesRuntime({
    connection: async () => ({ server: sim.url, caPem: undefined, token: sim.token }),
    templates: podTemplateLoader(TEMPLATES_DIR),
    allowInsecureHttp: true,
  });
  const app = await createApp(
    {},
    { store: counted.store, kinds: DEFAULT_KINDS, settings: DEFAULT_SETTINGS, runtime, logger: silent },
  );
  try {
    for (const kind of DEFAULT_KINDS)
      await app.orchestrator.orchestrate(kind.resource, { initInstances: INSTANCES }, 'bench');
    const thing = DEFAULT_KINDS.find((kind) => kind.heartbeat)!;
    const beat = (ids: readonly string[]) =>
      app.orchestrator.recordHeartbeats(
        ids.map((instanceId) => ({ resource: thing.resource, instanceId, at: sim.now() })),
      );
    const all = Array.from({ length: INSTANCES }, (_, i) => String(i));

    log(
      `  full runs: ${DEFAULT_KINDS.map((k) => `${INSTANCES} ${k.resource}`).join(' + ')} instances, simulator over HTTP, SQLite store`,
    );
    const measure = async (label: string): Promise<ReconcileReport> => {
      sim.resetCalls();
      counted.reset();
      const started = performance.now();
      const report = await reconcile(app, {
        now: () => sim.now(),
        alerts: new MemoryAlertPublisher(silent),
        metrics: new Metrics('bench', {}, () => undefined),
      });
      const ms = performance.now() - started;
      const verbs = Object.entries(sim.calls)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([verb, count]) => `${verb} ${count}`)
        .join(', ');
      const writes = counted.writes();
      const actions = report.kinds.flatMap((k) => k.actions);
      const byType =
        [...new Set(actions.map((a) => a.type))]
          .map((type) => `${type} ${actions.filter((a) => a.type === type).length}`)
          .join(', ') || 'none';
      log(
        `    ${label.padEnd(10)} ${ms.toFixed(0).padStart(5)} ms; API requests: ${verbs}; actions: ${byType}; store commits ${writes.commits}`,
      );
      return report;
    };

    await measure('cold');
    sim.advance(5000);
    sim.advance(300_000);
    await beat(all);
    await measure('settle');
    await measure('steady');

    sim.advance(100_000);
    await beat(all.filter((id) => !['11', '42', '77'].includes(id)));
    for (const id of ['5', '50', '95']) {
      sim.setPhase(podName(thing, id, 1), 'Failed');
      sim.setPhase(podName(DEFAULT_KINDS.find((k) => !k.heartbeat)!, id, 1), 'Unknown');
    }
    await measure('disrupted');
    log('    (cold: every pod created; settle: pods seen Running, records updated once; steady: nothing to do;');
    log('     disrupted: 3 silent Things recycled, 3 failed Things and 3 lost Rules replaced)');
  } finally {
    await app.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchReconcile(log: Log = console.log): Promise<void> {
  benchDecide(log);
  await benchFullRuns(log);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchReconcile();
}
