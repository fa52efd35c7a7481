/**
 * The concurrency proof: several OS processes place and remove random
 * resources against one store at once (run once per adapter). Afterwards the
 * invariants workers rely on must hold, read straight from the store's nodes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_KINDS } from '../../lib/config/kinds.js';
import type { Layout } from '../../lib/orchestration/layout.js';
import { silentLogger } from '../../lib/log.js';
import { createOrchestration } from '../../lib/orchestration/index.js';
import { openStore } from '../../lib/store/open.js';
import type { NodeStore } from '../../lib/store/port.js';
import { uniqueRoot } from '../support/paths.js';

const PROCESSES = 4;
const OPS_PER_PROCESS = 500;

interface ChurnReport {
  worker: number;
  placed: number;
  removed: number;
  reloadBumps: number;
  createdInstances: string[];
  ownLive: string[];
  ownRemoved: string[];
}

function runChurn(env: NodeJS.ProcessEnv, worker: number): Promise<ChurnReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/integration/support/churn.ts'], {
      env: {
        ...process.env,
        ...env,
        CHURN_WORKER: String(worker),
        CHURN_OPS: String(OPS_PER_PROCESS),
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`churn worker ${worker} exited ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as ChurnReport);
    });
  });
}

interface Snapshot {
  instances: Map<string, { used: number; count: number; ids: string[]; times: number }>;
  index: Map<string, string>;
}

/** Reads the legacy layout and the index node by node, bypassing the orchestrator's own reads. */
async function snapshot(store: NodeStore, layout: Layout): Promise<Snapshot> {
  const instances = new Map<string, { used: number; count: number; ids: string[]; times: number }>();
  for (const id of await store.children(layout.kind('Thing'))) {
    const [node, resources, reload] = await store.getMany([
      layout.instance('Thing', id),
      layout.resources('Thing', id),
      layout.reload('Thing', id),
    ]);
    const { used, count } = JSON.parse(node!.data) as { used: number; count: number };
    instances.set(id, {
      used,
      count,
      ids: (JSON.parse(resources!.data) as { ids: string[] }).ids,
      times: (JSON.parse(reload!.data) as { times: number }).times,
    });
  }
  const index = new Map<string, string>();
  const names = await store.children(layout.indexDir('Thing'));
  const nodes = await store.getMany(names.map((name) => layout.index('Thing', name)));
  for (const [i, name] of names.entries()) index.set(name, nodes[i]!.data);
  return { instances, index };
}

const adapters: Array<{ name: string; env: () => NodeJS.ProcessEnv }> = [
  {
    name: 'zookeeper',
    env: () => {
      const root = uniqueRoot('churn');
      return {
        ZK_CONNECT: inject('zkConnect'),
        ZK_ROOT: `${root}/orchestration`,
        ZK_STATE_ROOT: `${root}/orchestrator`,
      };
    },
  },
  {
    name: 'sqlite',
    env: () => {
      const dir = mkdtempSync(join(tmpdir(), 'iota-churn-'));
      dirs.push(dir);
      return { ZK_CONNECT: '', ORCH_DATA_DIR: dir };
    },
  },
];
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.each(adapters)('$name store under concurrent placement and removal', ({ env: makeEnv }) => {
  it(`keeps every invariant when ${PROCESSES} processes each run ${OPS_PER_PROCESS} random places and removes`, {
    timeout: 240_000,
  }, async () => {
    // Prepare: 40 resources orchestrated over 4 instances of 11, so the churn also fills instances and creates new ones.
    const env = makeEnv();
    const store = await openStore({ ...process.env, ...env });
    const orchestrator = createOrchestration({
      logger: silentLogger(),
      store,
      kinds: DEFAULT_KINDS,
      root: env.ZK_ROOT,
      stateRoot: env.ZK_STATE_ROOT,
    });
    const layout = orchestrator.layout;
    await orchestrator.assign(
      'Thing',
      Array.from({ length: 40 }, (_, i) => `seed-${i}`),
    );
    await orchestrator.orchestrate('Thing', { initInstances: 4, resourcePerInstance: 11 }, 'test');
    const before = await snapshot(store, layout);

    // Act
    const reports = await Promise.all(Array.from({ length: PROCESSES }, (_, worker) => runChurn(env, worker)));

    // Assess
    const after = await snapshot(store, layout);
    const owner = new Map<string, string>();
    for (const [instanceId, instance] of after.instances) {
      expect(instance.used, `used of instance ${instanceId}`).toBe(instance.ids.length);
      expect(instance.used, `used <= count on instance ${instanceId}`).toBeLessThanOrEqual(instance.count);
      for (const id of instance.ids) {
        expect(owner.get(id), `${id} sits on two instances`).toBeUndefined();
        owner.set(id, instanceId);
      }
    }
    // The index and the lists agree exactly: every live resource on exactly one instance.
    expect(new Map([...owner].sort())).toEqual(new Map([...after.index].sort()));
    for (const report of reports) {
      for (const id of report.ownLive) expect(owner.has(id), `${id} was placed last and must be live`).toBe(true);
      for (const id of report.ownRemoved) expect(owner.has(id), `${id} was removed last and must be gone`).toBe(false);
    }
    // Every list change bumped `_reload` exactly once, and every changed instance's counter grew.
    const bumps = reports.reduce((sum, r) => sum + r.reloadBumps, 0);
    const timesGrown = [...after.instances].reduce(
      (sum, [id, i]) => sum + i.times - (before.instances.get(id)?.times ?? 0),
      0,
    );
    expect(timesGrown).toBe(bumps);
    for (const [id, instance] of after.instances) {
      const old = before.instances.get(id);
      if (old && old.ids.join() !== instance.ids.join())
        expect(instance.times, `_reload of instance ${id}`).toBeGreaterThan(old.times);
    }
    const placed = reports.reduce((sum, r) => sum + r.placed, 0);
    const removed = reports.reduce((sum, r) => sum + r.removed, 0);
    expect(owner.size).toBe(40 + placed - removed);
    expect(placed).toBeGreaterThanOrEqual(PROCESSES * OPS_PER_PROCESS * 0.4);
    await store.close();
  });
});
