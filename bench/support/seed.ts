import { encodeInstanceData, encodeReload, encodeResources, type Layout } from '../../lib/orchestration/layout.js';
import type { NodeStore } from '../../lib/store/port.js';

/** Instances the benchmarks spread placements over, as in production. */
export const BENCH_INSTANCES = 100;

/** `BENCH_INSTANCES` empty Thing instances of 5000, written straight into the legacy layout. */
export async function seedInstances(store: NodeStore, layout: Layout): Promise<void> {
  await store.ensurePath(layout.kind('Thing'));
  for (let id = 0; id < BENCH_INSTANCES; id++) {
    const i = String(id);
    await store.commit([
      { op: 'create', path: layout.instance('Thing', i), data: encodeInstanceData(0, 5000) },
      { op: 'create', path: layout.tmp('Thing', i), data: '' },
      { op: 'create', path: layout.reload('Thing', i), data: encodeReload(0) },
      { op: 'create', path: layout.resources('Thing', i), data: encodeResources([]) },
    ]);
  }
}
