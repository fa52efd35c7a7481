/**
 * The legacy layout exactly as a worker reads it, straight from the store
 * (not through the use cases under test).
 */
import type { App } from '../../../lib/app.js';
import { byNumericId } from '../../../lib/domain/orchestration.js';
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
