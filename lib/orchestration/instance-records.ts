/**
 * What the reconcile loop last did to each instance (action, reason, pod,
 * generation, phase), kept in the store: it names the next pod uniquely and
 * shows operators why an instance was recycled.
 */
import type { Kinds, OrchestrationContext } from './context.js';
import { InstanceRecordSchema } from './stored.js';
import { readRecordDir } from './stored-dir.js';
import type { InstanceRecord } from './types.js';

export class InstanceRecordUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
  ) {}

  async records(resource: string): Promise<Map<string, InstanceRecord>> {
    this.kinds.get(resource);
    return readRecordDir(this.context, this.context.repository.layout.recordsDir(resource), InstanceRecordSchema);
  }

  async writeRecord(resource: string, instanceId: string, record: InstanceRecord): Promise<void> {
    this.kinds.get(resource);
    const { repository } = this.context;
    await repository.prepare(resource);
    await repository.put(
      repository.layout.record(resource, instanceId),
      JSON.stringify(InstanceRecordSchema.parse(record)),
    );
  }

  /** Drops what we kept about an instance that no longer exists; its pod is then an orphan for reconcile. */
  async forget(resource: string, instanceId: string): Promise<void> {
    const { layout } = this.context.repository;
    await this.context.repository.removeIfPresent([
      layout.heartbeat(resource, instanceId),
      layout.record(resource, instanceId),
    ]);
  }
}
