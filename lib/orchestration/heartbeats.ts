/**
 * Heartbeats: the last time each instance said it was alive, kept in the
 * store (legacy kept them in memory and recycled healthy workers after every
 * restart). A stored time never moves backwards, so a late or redelivered
 * batch changes nothing.
 */
import { INSTANCE_ID } from '../domain/orchestration.js';
import { type VersionedNode, withRetry, type WriteOp } from '../store/port.js';
import { STORE_RETRY, unique, type Kinds, type OrchestrationContext } from './context.js';
import { HeartbeatNodeSchema, parseNode } from './stored.js';
import { readRecordDir } from './stored-dir.js';
import type { HeartbeatInput, HeartbeatRecord } from './types.js';

export class HeartbeatUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
  ) {}

  /**
   * Stores the newest heartbeat of each instance with at most one write, all of a batch in one transaction.
   * Callers coalesce a batch already (the handler keeps the newest per
   * instance); duplicates left here are dropped the same way, newest wins.
   */
  async recordHeartbeats(beats: readonly HeartbeatInput[]): Promise<{ writes: number; instances: number }> {
    const { store, repository } = this.context;
    const latest = newestPerInstance(
      beats.filter((beat) => this.kinds.has(beat.resource) && INSTANCE_ID.test(beat.instanceId)),
    );
    await Promise.all(unique(latest.map((b) => b.resource)).map((resource) => repository.prepare(resource)));
    const paths = latest.map((beat) => repository.layout.heartbeat(beat.resource, beat.instanceId));
    const nodes = await store.getMany(paths);
    const due = latest.flatMap((beat, i) => {
      const node = nodes[i];
      return node && storedAt(node) >= beat.at ? [] : [beatWrite(paths[i]!, beat, node)];
    });
    if (due.length === 0) return { writes: 0, instances: latest.length };
    try {
      // One transaction for the whole batch: one round trip and one log write instead of one per instance.
      await store.commit(due);
      return { writes: due.length, instances: latest.length };
    } catch {
      // Another writer got to one of them (or the store failed): each beat on its own, as below, with retries.
    }
    let writes = 0;
    await Promise.all(
      latest.map(async (beat, i) => {
        const path = paths[i]!;
        await withRetry(async () => {
          // Read again: the batch's reads may be what the other writer made stale.
          const node = await store.get(path);
          if (node && storedAt(node) >= beat.at) return;
          await store.commit([beatWrite(path, beat, node)]);
          writes++;
        }, STORE_RETRY);
      }),
    );
    return { writes, instances: latest.length };
  }

  async heartbeats(resource: string): Promise<Map<string, HeartbeatRecord>> {
    this.kinds.get(resource);
    return readRecordDir(this.context, this.context.repository.layout.heartbeatsDir(resource), HeartbeatNodeSchema);
  }
}

/** The newest heartbeat per instance; on equal times the later one in the batch wins. */
export function newestPerInstance(beats: readonly HeartbeatInput[]): HeartbeatInput[] {
  const latest = new Map<string, HeartbeatInput>();
  for (const beat of beats) {
    const key = `${beat.resource}/${beat.instanceId}`;
    const seen = latest.get(key);
    if (!seen || beat.at >= seen.at) latest.set(key, beat);
  }
  return [...latest.values()];
}

/** The write that stores a beat: over the node read (its version checked), or a new node. */
function beatWrite(path: string, beat: HeartbeatInput, node: VersionedNode | undefined): WriteOp {
  const data = JSON.stringify(beat.extra ? { at: beat.at, extra: beat.extra } : { at: beat.at });
  return node ? { op: 'set', path, data, version: node.version } : { op: 'create', path, data };
}

/** A stored heartbeat we cannot read is older than any real one: overwrite it. */
const storedAt = (node: Parameters<typeof parseNode>[1]): number => {
  try {
    return parseNode(HeartbeatNodeSchema, node).at;
  } catch {
    return -1;
  }
};
