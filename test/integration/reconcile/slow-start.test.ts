/**
 * Slow-start pod creation, as the ReplicaSet controller creates pods: a run
 * starts the pods of 1, 2, 4, 8 … instances, the next batch only after every
 * creation of the last succeeded, and no more than the per-run cap. Asserted
 * on what the Kubernetes simulator holds after each run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { slowStartBatches } from '../../../lib/reconcile/act.js';
import { RULE, startHarness, withFaults, type Harness, type HarnessOptions } from './harness.js';

const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i));

describe('slow-start pod creation', () => {
  let h: Harness;
  const start = async (options: HarnessOptions = {}): Promise<Harness> =>
    (h = await startHarness({ kinds: [RULE], ...options }));
  afterEach(async () => h?.close());

  /** Instance ids that have a live pod, in numeric order. */
  const withPods = (): string[] =>
    [
      ...new Set(
        h.sim
          .list()
          .filter((pod) => !pod.metadata.deletionTimestamp)
          .map((pod) => pod.metadata.labels?.instanceId ?? ''),
      ),
    ].sort((a, b) => Number(a) - Number(b));

  it('sizes batches 1, 2, 4, 8 … within the cap', () => {
    expect(slowStartBatches(20, 64)).toEqual([1, 2, 4, 8, 5]);
    expect(slowStartBatches(100, 64)).toEqual([1, 2, 4, 8, 16, 32, 1]);
    expect(slowStartBatches(3, 64)).toEqual([1, 2]);
    expect(slowStartBatches(0, 64)).toEqual([]);
  });

  it('starts the pods of every new instance in one run when all creations succeed', async () => {
    await start();
    await h.instances(RULE, 20);

    const report = await h.run();

    expect(withPods()).toEqual(ids(0, 20));
    expect(report.kinds[0]!.deferred).toEqual([]);
  });

  it('stops after the batch in which a creation failed and starts the rest on the next run', async () => {
    // Instance 4 is in the third batch (instances 3–6).
    await start({ server: withFaults({ create: new Set(['iota-rules-engine-4-g1']) }) });
    await h.instances(RULE, 20);

    const first = await h.run();
    const afterFirst = withPods();
    const records = await h.app.orchestrator.records('Rule');
    const second = await h.run();

    expect(afterFirst).toEqual(['0', '1', '2', '3', '5', '6']);
    expect(records.get('4')).toMatchObject({ action: 'error', pod: 'iota-rules-engine-4-g1' });
    expect(ids(7, 20).filter((id) => records.has(id))).toEqual([]);
    expect(first.kinds[0]!.deferred).toEqual(ids(7, 20));
    expect(first.apiCalls.create).toBe(7);
    expect(withPods()).toEqual(ids(0, 20));
    expect(second.errors).toEqual([]);
  });

  it('tries one pod per run while every creation fails (a broken template)', async () => {
    await start({ server: withFaults({ create: new Set(ids(0, 10).map((id) => `iota-rules-engine-${id}-g1`)) }) });
    await h.instances(RULE, 10);

    const report = await h.run();

    expect(report.apiCalls.create).toBe(1);
    expect(report.kinds[0]!.deferred).toEqual(ids(1, 10));
    expect(withPods()).toEqual([]);
  });

  it('creates at most maxPodCreationsPerRun pods per run', async () => {
    await start({ settings: { maxPodCreationsPerRun: 5 } });
    await h.instances(RULE, 12);

    const perRun: number[] = [];
    for (let run = 0; run < 3; run++) {
      const report = await h.run();
      perRun.push(report.apiCalls.create);
    }

    expect(perRun).toEqual([5, 5, 2]);
    expect(withPods()).toEqual(ids(0, 12));
  });
});
