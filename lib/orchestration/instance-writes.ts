/**
 * The write ops of the legacy layout for instances and the resource index: what a list change, a new
 * or removed instance, a capacity change and an index entry look like in the store, version-checked
 * against what was read. Pure: building an op reads and writes nothing.
 */
import type { InstanceState } from '../domain/orchestration.js';
import { ANY_VERSION, type WriteOp } from '../store/port.js';
import { encodeInstanceData, encodeReload, encodeResources, type Layout } from './layout.js';
import type { CachedInstance } from './repository.js';

export class InstanceWrites {
  constructor(private readonly layout: Layout) {}

  /** The three writes that change an instance's list: counters, ids and a `_reload` bump, all version-checked. */
  updateOps(resource: string, before: CachedInstance, after: InstanceState): WriteOp[] {
    const { layout } = this;
    return [
      {
        op: 'set',
        path: layout.instance(resource, after.id),
        data: encodeInstanceData(after.ids.length, after.count),
        version: before.versions.node,
      },
      {
        op: 'set',
        path: layout.resources(resource, after.id),
        data: encodeResources(after.ids),
        version: before.versions.resources,
      },
      {
        op: 'set',
        path: layout.reload(resource, after.id),
        data: encodeReload(before.state.reloadTimes + 1),
        version: before.versions.reload,
      },
    ];
  }

  /** A new instance's four legacy nodes. */
  createOps(resource: string, state: InstanceState): WriteOp[] {
    const { layout } = this;
    return [
      {
        op: 'create',
        path: layout.instance(resource, state.id),
        data: encodeInstanceData(state.ids.length, state.count),
      },
      { op: 'create', path: layout.tmp(resource, state.id), data: '' },
      { op: 'create', path: layout.reload(resource, state.id), data: encodeReload(state.reloadTimes) },
      { op: 'create', path: layout.resources(resource, state.id), data: encodeResources(state.ids) },
    ];
  }

  /** Removes an empty instance's nodes, version-checked so one that just received resources stays. */
  removeOps(resource: string, gone: CachedInstance): WriteOp[] {
    const { layout } = this;
    const id = gone.state.id;
    return [
      { op: 'remove', path: layout.tmp(resource, id), version: ANY_VERSION },
      { op: 'remove', path: layout.reload(resource, id), version: gone.versions.reload },
      { op: 'remove', path: layout.resources(resource, id), version: gone.versions.resources },
      { op: 'remove', path: layout.instance(resource, id), version: gone.versions.node },
    ];
  }

  /** Only the counters node: capacity changes that leave the list alone. */
  countOps(resource: string, instance: CachedInstance, count: number): WriteOp[] {
    const data = encodeInstanceData(instance.state.used, count);
    return [
      { op: 'set', path: this.layout.instance(resource, instance.state.id), data, version: instance.versions.node },
    ];
  }

  indexCreateOp = (resource: string, id: string, instanceId: string): WriteOp => ({
    op: 'create',
    path: this.layout.index(resource, id),
    data: instanceId,
  });
  indexMoveOp = (resource: string, id: string, instanceId: string): WriteOp => ({
    op: 'set',
    path: this.layout.index(resource, id),
    data: instanceId,
    version: ANY_VERSION,
  });
  indexRemoveOp = (resource: string, id: string, version: number): WriteOp => ({
    op: 'remove',
    path: this.layout.index(resource, id),
    version,
  });
}
