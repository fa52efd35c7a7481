/**
 * What every InstanceRuntime does, whatever runs the pods: run against the Kubernetes
 * adapter on the API simulator and against the local process adapter, so the local
 * default and production behave the same by construction.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS, type KindConfig } from '../../lib/config/kinds.js';
import { podName, type InstanceRuntime, type PodInfo, type PodSpec } from '../../lib/instances/port.js';

export interface InstanceRuntimeHarness {
  readonly runtime: InstanceRuntime;
  /** Ends the pod's workload the way a crash would; the pod stays, in phase Failed. */
  kill(name: string): Promise<void>;
  /** Lets the grace period of every deletion begun so far run out. */
  passGracePeriod(): Promise<void>;
  teardown(): Promise<void>;
}

const [THING, RULE] = DEFAULT_KINDS as [KindConfig, KindConfig];

const spec = (kind: KindConfig, instanceId: string, generation = 1): PodSpec => ({
  kind,
  instanceId,
  name: podName(kind, instanceId, generation),
});

const byName = (pods: readonly PodInfo[], name: string): PodInfo | undefined => pods.find((pod) => pod.name === name);

export function describeInstanceRuntimeContract(name: string, setup: () => Promise<InstanceRuntimeHarness>): void {
  describe(`InstanceRuntime contract: ${name}`, () => {
    let harness: InstanceRuntimeHarness;
    let runtime: InstanceRuntime;

    beforeEach(async () => {
      harness = await setup();
      runtime = harness.runtime;
    });

    afterEach(async () => {
      await harness.teardown();
    });

    it('creates a pod that is listed with its instance id, its kind and a live phase', async () => {
      // Prepare
      const pod = spec(THING, '3');

      // Act
      const outcome = await runtime.create(pod);
      const pods = await runtime.list(THING);

      // Assess
      expect(outcome).toBe('created');
      expect(pods).toHaveLength(1);
      const listed = pods[0]!;
      expect(listed).toMatchObject({ name: pod.name, resource: 'Thing', instanceId: '3', terminating: false });
      expect(['Pending', 'Running']).toContain(listed.phase);
    });

    it('answers exists when a pod of that name is already there, and still has one pod', async () => {
      // Prepare
      const pod = spec(THING, '0');
      await runtime.create(pod);

      // Act
      const outcome = await runtime.create(pod);

      // Assess
      expect(outcome).toBe('exists');
      expect((await runtime.list(THING)).map((p) => p.name)).toEqual([pod.name]);
    });

    it('lists a deleted pod as terminating until its grace period has passed, then no more', async () => {
      // Prepare
      const pod = spec(THING, '1');
      await runtime.create(pod);

      // Act
      const outcome = await runtime.delete(THING, pod.name);
      const during = await runtime.list(THING);
      await harness.passGracePeriod();
      const after = await runtime.list(THING);

      // Assess
      expect(outcome).toBe('deleted');
      expect(byName(during, pod.name)?.terminating).toBe(true);
      expect(after).toEqual([]);
    });

    it('answers exists for the name of a pod that is still terminating', async () => {
      // Prepare
      const pod = spec(THING, '1');
      await runtime.create(pod);
      await runtime.delete(THING, pod.name);

      // Act
      const outcome = await runtime.create(pod);

      // Assess
      expect(outcome).toBe('exists');
      expect(byName(await runtime.list(THING), pod.name)?.terminating).toBe(true);
    });

    it('creates a replacement under a new name while the old pod is still terminating', async () => {
      // Prepare
      const old = spec(THING, '2', 1);
      const replacement = spec(THING, '2', 2);
      await runtime.create(old);
      await runtime.delete(THING, old.name);

      // Act
      const outcome = await runtime.create(replacement);
      const pods = await runtime.list(THING);

      // Assess
      expect(outcome).toBe('created');
      expect(byName(pods, old.name)?.terminating).toBe(true);
      expect(byName(pods, replacement.name)).toMatchObject({ instanceId: '2', terminating: false });
    });

    it('keeps a terminating pod terminating when it is deleted again', async () => {
      // Prepare
      const pod = spec(RULE, '4');
      await runtime.create(pod);
      await runtime.delete(RULE, pod.name);

      // Act
      const outcome = await runtime.delete(RULE, pod.name);

      // Assess
      expect(outcome).toBe('deleted');
      expect(byName(await runtime.list(RULE), pod.name)?.terminating).toBe(true);
    });

    it('answers absent when deleting a pod that does not exist', async () => {
      // Act
      const outcome = await runtime.delete(THING, podName(THING, '9', 1));

      // Assess
      expect(outcome).toBe('absent');
    });

    it('lists only the pods of the kind asked for', async () => {
      // Prepare
      await runtime.create(spec(THING, '0'));
      await runtime.create(spec(THING, '1'));
      await runtime.create(spec(RULE, '0'));

      // Act
      const things = await runtime.list(THING);
      const rules = await runtime.list(RULE);

      // Assess
      expect(things.map((p) => p.name).sort()).toEqual([podName(THING, '0', 1), podName(THING, '1', 1)]);
      expect(things.every((p) => p.resource === 'Thing')).toBe(true);
      expect(rules.map((p) => [p.name, p.resource, p.instanceId])).toEqual([[podName(RULE, '0', 1), 'Rule', '0']]);
    });

    it('lists a pod whose workload died as Failed', async () => {
      // Prepare
      const pod = spec(RULE, '5');
      await runtime.create(pod);

      // Act
      await harness.kill(pod.name);
      const pods = await runtime.list(RULE);

      // Assess
      expect(byName(pods, pod.name)).toMatchObject({ phase: 'Failed', terminating: false, instanceId: '5' });
    });

    it('removes a failed pod as soon as it is deleted, so its name can be used again', async () => {
      // Prepare
      const pod = spec(THING, '6');
      await runtime.create(pod);
      await harness.kill(pod.name);

      // Act
      const deleted = await runtime.delete(THING, pod.name);
      const listed = await runtime.list(THING);
      const recreated = await runtime.create(pod);

      // Assess
      expect(deleted).toBe('deleted');
      expect(listed).toEqual([]);
      expect(recreated).toBe('created');
    });
  });
}
