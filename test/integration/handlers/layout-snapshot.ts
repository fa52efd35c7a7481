/**
 * The legacy layout exactly as a worker reads it, straight from the store
 * (not through the use cases under test).
 */
import type { App } from '../../../lib/app.js';
import { byNumericId } from '../../../lib/domain/orchestration.js';
import { encodeInstanceData, encodeReload, encodeResources, type Layout } from '../../../lib/orchestration/layout.js';
import type { NodeStore } from '../../../lib/store/port.js';

export interface LegacyInstance {
  readonly id: string;
  readonly used: number;
  readonly count: number;
  readonly ids: string[];
  readonly reloadTimes: number;
}

const parse = (data: string | undefined): Record<string, unknown> =>
  data ? (JSON.parse(data) as Record<string, unknown>) : {};

export async function readLegacyLayout(store: NodeStore, root: string, resource: string): Promise<LegacyInstance[]> {
  const ids = (await store.children(`${root}/${resource}`)).sort(byNumericId);
  const instances: LegacyInstance[] = [];
  for (const id of ids) {
    const base = `${root}/${resource}/${id}`;
    const [node, resources, reload] = await store.getMany([base, `${base}/resources`, `${base}/_reload`]);
    const data = parse(node?.data);
    instances.push({
      id,
      used: data.used as number,
      count: data.count as number,
      ids: [...((parse(resources?.data).ids as string[] | undefined) ?? [])],
      reloadTimes: (parse(reload?.data).times as number | undefined) ?? 0,
    });
  }
  return instances;
}

export const legacyLayout = (app: App, resource: string): Promise<LegacyInstance[]> =>
  readLegacyLayout(app.store, app.orchestrator.layout.root, resource);

/**
 * A kind as an orchestrate would have left it: `instances` empty instances of
 * capacity `count`, and that capacity stored, so a run that fills them must
 * also open instances while racing.
 */
export async function seedKind(
  store: NodeStore,
  layout: Layout,
  resource: string,
  instances: number,
  count: number,
): Promise<void> {
  await store.ensurePath(layout.kind(resource));
  await store.ensurePath(layout.capacity(resource).replace(/\/capacity$/, ''));
  await store.commit([
    {
      op: 'create',
      path: layout.capacity(resource),
      data: JSON.stringify({ maxInstances: 100, resourcePerInstance: count }),
    },
  ]);
  for (let id = 0; id < instances; id++) {
    const instance = String(id);
    await store.commit([
      { op: 'create', path: layout.instance(resource, instance), data: encodeInstanceData(0, count) },
      { op: 'create', path: layout.tmp(resource, instance), data: '' },
      { op: 'create', path: layout.reload(resource, instance), data: encodeReload(0) },
      { op: 'create', path: layout.resources(resource, instance), data: encodeResources([]) },
    ]);
  }
}

/** Which instance each resource sits on; throws on a resource held twice. */
export function placements(instances: readonly LegacyInstance[]): Map<string, string> {
  const placed = new Map<string, string>();
  for (const instance of instances) {
    for (const id of instance.ids) {
      if (placed.has(id)) throw new Error(`${id} is on instances ${placed.get(id)} and ${instance.id}`);
      placed.set(id, instance.id);
    }
  }
  return placed;
}
