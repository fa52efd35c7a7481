/**
 * One instance as an operator looks into it: its counters, pod, heartbeat,
 * what reconcile last did to it, and its resource ids a page at a time. The
 * ids are paged by key (ascending, after the last id of the previous page),
 * so a page never repeats or skips an id that stayed on the instance while
 * others came and went; the cursor is that id, opaque to clients.
 */
import { INSTANCE_ID } from '../domain/orchestration.js';
import { isDraining } from '../domain/placement.js';
import { isResourceId } from '../domain/resource-id.js';
import type { VersionedNode } from '../store/port.js';
import type { Kinds, OrchestrationContext } from './context.js';
import { healthOf, observedPod } from './instance-status.js';
import { CorruptNodeError, HeartbeatNodeSchema, InstanceRecordSchema, parseNode } from './stored.js';
import type { InstanceDetail, ResourceIdPage, ResourcePageRequest } from './types.js';

/** Ids per page when the caller names no limit, and the most it may ask for. */
export const RESOURCE_PAGE_DEFAULT = 100;
export const RESOURCE_PAGE_MAX = 1000;

export const encodeCursor = (lastId: string): string => Buffer.from(lastId, 'utf8').toString('base64url');

/** The last id a cursor stands for; undefined when it is not a cursor this module wrote. */
export function decodeCursor(cursor: string): string | undefined {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return isResourceId(id) && encodeCursor(id) === cursor ? id : undefined;
}

/** A page of `ids` as `request` asks for it (pure). */
export function pageOf(ids: readonly string[], request: ResourcePageRequest): ResourceIdPage {
  const query = request.query?.trim() ? request.query.trim() : null;
  const needle = query?.toLowerCase();
  const matching = [...ids].filter((id) => needle === undefined || id.toLowerCase().includes(needle)).sort(byCodeUnit);
  const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
  const start = after === undefined ? 0 : matching.findIndex((id) => id > after);
  const from = start === -1 ? matching.length : start;
  const page = matching.slice(from, from + request.limit);
  const more = from + page.length < matching.length;
  return {
    total: ids.length,
    matched: matching.length,
    query,
    limit: request.limit,
    ids: page,
    nextCursor: more ? encodeCursor(page[page.length - 1]!) : null,
  };
}

/** JavaScript string order, as the catalog pages ids (`<` on strings). */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class InstanceViewUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
  ) {}

  async describeInstance(
    resource: string,
    instanceId: string,
    request: ResourcePageRequest,
  ): Promise<InstanceDetail | undefined> {
    const kind = this.kinds.get(resource);
    if (!INSTANCE_ID.test(instanceId)) return undefined;
    const { repository, store, clock, settings } = this.context;
    const { layout } = repository;
    const [cached, [beatNode, recordNode]] = await Promise.all([
      repository.refreshInstance(resource, instanceId),
      store.getMany([layout.heartbeat(resource, instanceId), layout.record(resource, instanceId)]),
    ]);
    if (!cached) return undefined;
    const beat = this.parsed(HeartbeatNodeSchema, beatNode);
    const record = this.parsed(InstanceRecordSchema, recordNode);
    const now = clock();
    const ageMs = beat ? Math.max(0, now - beat.at) : undefined;
    const { state } = cached;
    return {
      resource,
      instanceName: kind.instanceName,
      instance: {
        id: state.id,
        used: state.used,
        count: state.count,
        reloadTimes: state.reloadTimes,
        draining: isDraining(state),
        health: healthOf(kind.heartbeat, ageMs, settings.heartbeatTimeoutMs),
      },
      pod: observedPod(record, beat),
      heartbeat: beat && ageMs !== undefined ? { ...beat, ageMs } : null,
      record: record ?? null,
      resources: pageOf(state.ids, request),
      generatedAt: now,
    };
  }

  /** A stored record by schema; a corrupt one is logged and shown as absent, as the kind's view skips it. */
  private parsed<T>(schema: Parameters<typeof parseNode<T>>[0], node: VersionedNode | undefined): T | undefined {
    if (!node) return undefined;
    try {
      return parseNode(schema, node);
    } catch (error) {
      if (!(error instanceof CorruptNodeError)) throw error;
      this.context.logger.error({ path: error.path, problem: error.problem }, 'corrupt record skipped');
      return undefined;
    }
  }
}
