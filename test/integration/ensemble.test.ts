/**
 * A ZooKeeper leader crash in the middle of a storm of creates, on a real
 * ensemble of three servers. Several notify consumers, each with a ZooKeeper
 * client of its own, apply cm/notify batches as the Lambda does; a record the
 * batch reports failed is delivered again, as SQS would. The leader is found
 * with `srvr` and killed (SIGKILL) once a third of the creates are
 * acknowledged. Afterwards every acknowledged create is assigned exactly
 * once, nothing else is, the index agrees with the instance lists, and the
 * two servers left still serve.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../lib/app.js';
import { handleNotifyBatch } from '../../lib/handlers/notify-batch.js';
import { silentLogger } from '../../lib/log.js';
import { decodeName } from '../../lib/orchestration/layout.js';
import { openStore } from '../../lib/store/open.js';
import { type RunningEnsemble, startZooKeeperEnsemble } from '../support/zookeeper-ensemble.js';
import { waitFor } from '../support/wait.js';
import { placements, readLegacyLayout } from './handlers/layout-snapshot.js';

const CLIENTS = 4;
const BATCH = 20;
const CREATES = 1200;
/** The leader dies once this many creates are acknowledged. */
const KILL_AT = CREATES / 3;
/** A batch delivered this many times without success fails the test instead of looping on. */
const MAX_DELIVERIES = 40;

let ensemble: RunningEnsemble;
const apps: App[] = [];

beforeAll(async () => {
  ensemble = await startZooKeeperEnsemble();
}, 120_000);

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await ensemble?.stop();
});

const envFor = (connect: string) => ({ ...process.env, ZK_CONNECT: connect });

/** The storm's bookkeeping, shared by the consumers. */
interface Storm {
  /** Creates handed out to consumers so far. */
  attempted: number;
  readonly acknowledged: string[];
  /** Deliveries whose batch came back with failed records. */
  failedDeliveries: number;
  /** Records delivered again. */
  redelivered: number;
  /** When the leader was killed, and when a batch was first acknowledged after it started after the kill. */
  killedAt?: number;
  firstAckAfterKill?: number;
  lastFailureAt?: number;
}

/** One consumer: takes new batches while the storm lasts, and delivers failed records again until they apply. */
async function consume(app: App, consumer: number, storm: Storm): Promise<void> {
  const redeliveries: Array<{ ids: string[]; deliveries: number }> = [];
  for (;;) {
    let batch = redeliveries.shift();
    if (!batch && storm.attempted < CREATES) {
      const first = storm.attempted;
      storm.attempted = Math.min(CREATES, first + BATCH);
      batch = {
        ids: Array.from({ length: storm.attempted - first }, (_, i) => `c${consumer}-${first + i}`),
        deliveries: 0,
      };
    }
    if (!batch) return;
    if (batch.deliveries >= MAX_DELIVERIES)
      throw new Error(`a batch of ${batch.ids.length} creates failed ${batch.deliveries} deliveries`);
    if (batch.deliveries > 0) storm.redelivered += batch.ids.length;
    const started = performance.now();
    const result = await handleNotifyBatch(
      app,
      batch.ids.map((id) => ({ id, payload: JSON.stringify({ o: 'c', t: 'Thing', k: { id } }) })),
    );
    const failed = new Set(result.failed);
    const applied = batch.ids.filter((id) => !failed.has(id));
    storm.acknowledged.push(...applied);
    if (applied.length > 0 && storm.killedAt !== undefined && started > storm.killedAt)
      storm.firstAckAfterKill ??= performance.now();
    if (failed.size > 0) {
      storm.failedDeliveries += 1;
      storm.lastFailureAt = performance.now();
      redeliveries.push({ ids: [...failed], deliveries: batch.deliveries + 1 });
      // The queue's visibility timeout, shortened: the record comes back a moment later, not at once.
      await delay(Math.min(1000, 50 * 2 ** batch.deliveries));
    }
  }
}

describe('a 3-server ZooKeeper ensemble losing its leader during a storm of creates', () => {
  it('keeps every acknowledged assignment exactly once and the index consistent, and still serves', {
    timeout: 180_000,
  }, async () => {
    // Prepare: consumers with a ZooKeeper client each, over eight empty instances so batches spread over several lists.
    for (let i = 0; i < CLIENTS; i++) apps.push(await createApp(envFor(ensemble.connect), { logger: silentLogger() }));
    await apps[0]!.orchestrator.orchestrate('Thing', { initInstances: 8 }, 'ensemble-test');
    const storm: Storm = { attempted: 0, acknowledged: [], failedDeliveries: 0, redelivered: 0 };

    // Act: the storm, and the leader's crash a third of the way through it.
    const began = performance.now();
    const consumers = Promise.all(apps.map((app, i) => consume(app, i, storm)));
    const crash = (async () => {
      await waitFor(() => storm.acknowledged.length >= KILL_AT, {
        what: `${KILL_AT} acknowledged creates`,
        timeoutMs: 60_000,
        intervalMs: 10,
      });
      const leader = await ensemble.waitForQuorum();
      const atKill = storm.acknowledged.length;
      storm.killedAt = performance.now();
      await leader.kill();
      const newLeader = await ensemble.waitForQuorum();
      return { killed: leader.id, newLeader: newLeader.id, atKill, electedMs: performance.now() - storm.killedAt };
    })();
    const [, crashed] = await Promise.all([consumers, crash]);
    const stormMs = performance.now() - began;

    // Assess: straight from the two servers left, not through the consumers' clients.
    const store = await openStore(envFor(ensemble.liveConnect()));
    try {
      const root = apps[0]!.orchestrator.layout.root;
      const instances = await readLegacyLayout(store, root, 'Thing');
      const placed = placements(instances); // throws on an id held twice
      for (const instance of instances) expect(instance.used, `instance ${instance.id}`).toBe(instance.ids.length);
      const indexDir = apps[0]!.orchestrator.layout.indexDir('Thing');
      const names = await store.children(indexDir);
      const entries = await store.getMany(names.map((name) => `${indexDir}/${name}`));
      const index = new Map(names.map((name, i) => [decodeName(name), entries[i]?.data]));
      expect(new Map([...index].sort())).toEqual(new Map([...placed].sort()));

      const acknowledged = new Set(storm.acknowledged);
      expect(acknowledged.size, 'no create is acknowledged twice').toBe(storm.acknowledged.length);
      expect(storm.acknowledged.length, 'every create is acknowledged in the end').toBe(CREATES);
      const lost = storm.acknowledged.filter((id) => !placed.has(id));
      const strangers = [...placed.keys()].filter((id) => !acknowledged.has(id));
      expect(lost, 'acknowledged but not assigned').toEqual([]);
      expect(strangers, 'assigned but never acknowledged').toEqual([]);

      // The two servers left still serve: a new create applies and is found.
      const after = await handleNotifyBatch(apps[0]!, [
        { id: 'after', payload: JSON.stringify({ o: 'c', t: 'Thing', k: { id: 'after-the-crash' } }) },
      ]);
      expect(after.failed).toEqual([]);
      expect(await apps[1]!.orchestrator.locate('Thing', 'after-the-crash')).toEqual(expect.any(String));
      const modes = await Promise.all(ensemble.servers.filter((s) => s.running).map((server) => server.mode()));
      expect(modes.sort()).toEqual(['follower', 'leader']);

      console.info(
        `ensemble: ${CREATES} creates attempted, ${storm.acknowledged.length} acknowledged, ${placed.size} present ` +
          `(0 lost, 0 duplicated); leader ${crashed.killed} killed at ${crashed.atKill} acknowledged, ` +
          `server ${crashed.newLeader} leading ${Math.round(crashed.electedMs)} ms later, first create acknowledged ` +
          `${Math.round(storm.firstAckAfterKill! - storm.killedAt!)} ms after the kill, last failed delivery ` +
          `${storm.lastFailureAt === undefined ? 'none' : `${Math.round(storm.lastFailureAt - storm.killedAt!)} ms`} after it; ` +
          `${storm.failedDeliveries} failed deliveries, ${storm.redelivered} records redelivered; storm ${Math.round(stormMs)} ms`,
      );
    } finally {
      await store.close();
    }
  });
});
