/**
 * For the scaling tests: a load model on the simulator (each pod's CPU is its
 * instance's resources × CPU per resource, as the reference worker burns it)
 * and the end-state check the user cares about.
 */
import { expect } from 'vitest';
import type { KindConfig } from '../../../lib/config/kinds.js';
import type { ReconcileOptions, ReconcileReport } from '../../../lib/reconcile/reconcile.js';
import type { Harness } from './harness.js';

export const ids = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `thing-${String(i).padStart(5, '0')}`);

export interface ScriptedLoad {
  /** CPU per served resource, in millicores. */
  millisPerResource: number;
  /** Advances the simulator's clock, heartbeats every Running worker, then runs reconcile. */
  run(advanceMs: number, options?: ReconcileOptions): Promise<ReconcileReport>;
}

export function scriptLoad(h: Harness, kind: KindConfig): ScriptedLoad {
  const used = new Map<string, number>();
  const load: ScriptedLoad = {
    millisPerResource: 0,
    async run(advanceMs, options) {
      if (advanceMs > 0) h.advance(advanceMs);
      for (const instance of await h.app.orchestrator.read(kind.resource)) used.set(instance.id, instance.used);
      const running = h.sim
        .list()
        .filter(
          (pod) =>
            pod.metadata.labels?.resource === kind.resource &&
            pod.status.phase === 'Running' &&
            !pod.metadata.deletionTimestamp,
        )
        .map((pod) => pod.metadata.labels!.instanceId!);
      if (kind.heartbeat) await h.beat(kind, running);
      return h.run(options);
    },
  };
  h.sim.metricsScript = (pod) => {
    const instanceId = pod.metadata.labels?.instanceId ?? '';
    const millis = (used.get(instanceId) ?? 0) * load.millisPerResource;
    return { cpu: `${Math.round(millis * 1000)}u`, memory: '64Mi' };
  };
  return load;
}

/** Every expected id in exactly one list, the counters equal to the lists, the index naming the owner. */
export async function expectConsistent(h: Harness, resource: string, expected: readonly string[]): Promise<void> {
  const instances = await h.app.orchestrator.read(resource);
  const listed = instances.flatMap((instance) => instance.ids);
  expect(listed.length, 'no resource is on two lists').toBe(new Set(listed).size);
  expect([...listed].sort()).toEqual([...expected].sort());
  const layout = h.app.orchestrator.layout;
  const counters = await h.app.store.getMany(instances.map((instance) => layout.instance(resource, instance.id)));
  expect(counters.map((node) => (JSON.parse(node!.data) as { used: number }).used)).toEqual(
    instances.map((instance) => instance.ids.length),
  );
  const owners = await h.app.store.getMany(expected.map((id) => layout.index(resource, id)));
  const ownerOf = new Map(instances.flatMap((instance) => instance.ids.map((id) => [id, instance.id] as const)));
  expect(owners.map((node) => node?.data)).toEqual(expected.map((id) => ownerOf.get(id)));
}
