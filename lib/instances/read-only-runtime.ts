/**
 * A view of another runtime's pods that starts and stops none: it lists and
 * measures them, and refuses every create and delete with `reason`. A
 * reconcile run over it reports what it would have done as failed actions
 * naming the reason, and leaves the machine as it was. `sls invoke local -f
 * reconcile` runs over it unless INVOKE_LOCAL_WORKERS=1 asks for local worker
 * processes (lib/instances/runtime-from-env.ts, docs/invoke-local.md).
 */
import type { KindConfig } from '../config/kinds.js';
import { InstanceRuntimeError, type InstanceRuntime, type PodInfo, type PodSpec, type PodUsage } from './port.js';

export class ReadOnlyRuntime implements InstanceRuntime {
  readonly description: string;

  constructor(
    private readonly inner: InstanceRuntime,
    private readonly reason: string,
  ) {
    this.description = `${inner.description}, read-only: ${reason}`;
  }

  async create(spec: PodSpec): Promise<'created' | 'exists'> {
    throw new InstanceRuntimeError(`${spec.name} not started: ${this.reason}`, undefined);
  }

  async delete(_kind: KindConfig, name: string): Promise<'deleted' | 'absent'> {
    throw new InstanceRuntimeError(`${name} not stopped: ${this.reason}`, undefined);
  }

  list(kind: KindConfig): Promise<PodInfo[]> {
    return this.inner.list(kind);
  }

  usage(kind: KindConfig): Promise<PodUsage[]> {
    return this.inner.usage(kind);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
