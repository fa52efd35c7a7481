/**
 * Acting on a reconcile decision for one kind: pod operations (a few at
 * once, never past the run's lease), the instance records that name the next
 * pod, orphan deletion, and placing pending resources.
 *
 * Pods are created in slow-start batches, as the ReplicaSet controller creates
 * them: 1, then 2, 4, 8 … instances, the next batch only once every creation of
 * the last one succeeded, and at most `maxPodCreationsPerRun` per kind. A broken
 * template or a full runtime then costs one failed create per run, not one per
 * instance, and a hundred new instances do not start a hundred workers at once.
 */
import type { OrchestratorAlert } from '../alerts.js';
import type { App } from '../app.js';
import type { KindConfig } from '../config/kinds.js';
import { PodLimitError, type InstanceRuntime } from '../instances/port.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { InstanceRecord } from '../orchestration/types.js';
import type { PodAction, ReconcileDecision } from './decide.js';
import type { ExecutedAction, ExecutedType, ReconcileError } from './reconcile.js';

/** Runtime calls in flight per kind: enough to recreate 100 pods in seconds without flooding the API server. */
const CONCURRENCY = 8;

export interface KindContext {
  readonly app: App;
  readonly kind: KindConfig;
  readonly runtime: InstanceRuntime;
  readonly now: () => number;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly errors: ReconcileError[];
  /** False once the run has used most of its lease: no new pod operation may start then. */
  readonly leaseHeld: () => boolean;
}

/** Resources kept pending at the kind's maximum go wherever room has appeared since (deletes, a raised maximum). */
export async function placePending({ app, kind, log, metrics, errors }: KindContext): Promise<void> {
  try {
    const placed = await app.orchestrator.placePending(kind.resource);
    if (placed.assigned.length > 0) metrics.count('PendingPlaced', placed.assigned.length);
  } catch (error) {
    errors.push({ resource: kind.resource, operation: 'place-pending', message: messageOf(error) });
    log.error({ resource: kind.resource, err: error }, 'pending resources not placed');
  }
}

interface InstanceWork {
  readonly instanceId: string;
  readonly actions: PodAction[];
  readonly record: InstanceRecord | undefined;
}

export interface ActOutcome {
  readonly actions: ExecutedAction[];
  readonly recordsWritten: number;
  /** Instances whose pod creation waits for the next run (slow start stopped, or the run's cap was reached). */
  readonly deferred: readonly string[];
  readonly alerts: readonly OrchestratorAlert[];
}

/** The slow-start batch sizes for `count` creations, at most `cap` in all: 1, 2, 4, 8 … */
export function slowStartBatches(count: number, cap: number): number[] {
  const sizes: number[] = [];
  let left = Math.min(count, Math.max(0, cap));
  for (let size = 1; left > 0; size *= 2) {
    sizes.push(Math.min(size, left));
    left -= size;
  }
  return sizes;
}

export async function act(
  context: KindContext,
  decision: ReconcileDecision,
  stored: ReadonlyMap<string, InstanceRecord>,
): Promise<ActOutcome> {
  const { app, kind, runtime, now, log, metrics, errors, leaseHeld } = context;
  const resource = kind.resource;
  const work = new Map<string, InstanceWork>();
  const workFor = (instanceId: string): InstanceWork => {
    let entry = work.get(instanceId);
    if (!entry) work.set(instanceId, (entry = { instanceId, actions: [], record: undefined }));
    return entry;
  };
  for (const action of decision.actions) workFor(action.instanceId).actions.push(action);
  for (const { instanceId, record } of decision.records) work.set(instanceId, { ...workFor(instanceId), record });

  const executed: ExecutedAction[] = [];
  let recordsWritten = 0;
  let leftForNextRun = 0;
  let failedCreations = 0;
  /** Refused by the runtime's pod limit, and the last refusal (for the alert). */
  const refused: string[] = [];
  let lastRefusal: PodLimitError | undefined;

  const deletePod = async (instanceId: string, name: string): Promise<string | undefined> => {
    try {
      await runtime.delete(kind, name);
      return undefined;
    } catch (error) {
      const message = messageOf(error);
      errors.push({ resource, instanceId, pod: name, operation: 'delete', message });
      return message;
    }
  };
  const createPod = async (instanceId: string, name: string): Promise<string | undefined> => {
    try {
      await runtime.create({ kind, instanceId, name });
      return undefined;
    } catch (error) {
      failedCreations++;
      if (error instanceof PodLimitError) {
        refused.push(instanceId);
        lastRefusal = error;
      }
      const message = messageOf(error);
      errors.push({ resource, instanceId, pod: name, operation: 'create', message });
      return message;
    }
  };
  const done = (action: ExecutedAction): void => {
    executed.push(action);
    const fields = {
      resource,
      instanceId: action.instanceId,
      action: action.type,
      pod: action.pod,
      oldPod: action.oldPod,
      reason: action.reason,
    };
    if (!action.ok) {
      metrics.count('RuntimeErrors');
      log.error(
        { ...fields, error: action.error, reported: true },
        `${action.type} ${action.pod} failed: ${action.error}`,
      );
      return;
    }
    metrics.count(METRIC[action.type]);
    const verb =
      action.type === 'recycle' ? `recycled ${action.oldPod} as ${action.pod}` : `${PAST[action.type]} ${action.pod}`;
    log.info(fields, `${verb}: ${action.reason}`);
  };

  const perform = async ({ instanceId, actions, record }: InstanceWork): Promise<void> => {
    if (!leaseHeld()) {
      leftForNextRun++;
      return;
    }
    const previous = stored.get(instanceId);
    // The highest generation this instance has used: an attempted one is never reused, since
    // its name may exist in some state this run did not see; a planned but unattempted one is free.
    let generation = previous?.generation ?? 0;
    if (record && !actions.some((a) => a.type !== 'delete')) generation = Math.max(generation, record.generation);
    let failure: { error: string; reason: string; pod: string } | undefined;
    for (const action of actions) {
      if (action.type === 'delete') {
        const error = await deletePod(instanceId, action.name);
        done({
          type: 'delete',
          instanceId,
          pod: action.name,
          reason: action.reason,
          ok: !error,
          ...(error ? { error } : {}),
        });
        if (error) failure ??= { error, reason: action.reason, pod: action.name };
      } else if (action.type === 'create') {
        // A dead pod that could not be deleted is not serving: its replacement starts regardless.
        generation = Math.max(generation, action.generation);
        const error = await createPod(instanceId, action.name);
        const type = action.outcome === 'replaced' ? 'replace' : 'create';
        done({ type, instanceId, pod: action.name, reason: action.reason, ok: !error, ...(error ? { error } : {}) });
        if (error) failure = { error, reason: action.reason, pod: action.name };
      } else {
        // A silent pod may still be working: its successor starts only once its deletion was accepted.
        generation = Math.max(generation, action.generation - 1);
        const deleteError = await deletePod(instanceId, action.oldName);
        if (!deleteError) generation = Math.max(generation, action.generation);
        const error = deleteError ?? (await createPod(instanceId, action.name));
        done({
          type: 'recycle',
          instanceId,
          pod: action.name,
          oldPod: action.oldName,
          reason: action.reason,
          ok: !error,
          ...(error ? { error } : {}),
        });
        if (error) failure = { error, reason: action.reason, pod: deleteError ? action.oldName : action.name };
      }
    }
    // A failed restart did not happen: the restart count and back-off stay as they were.
    const kept = {
      ...(previous?.restarts ? { restarts: previous.restarts } : {}),
      ...(previous?.backoff ? { backoff: previous.backoff } : {}),
    };
    const toWrite: InstanceRecord | undefined = failure
      ? {
          action: 'error',
          reason: failure.reason,
          error: failure.error,
          pod: failure.pod,
          generation,
          at: now(),
          ...kept,
        }
      : record;
    if (!toWrite) return;
    try {
      await app.orchestrator.writeRecord(resource, instanceId, toWrite);
      recordsWritten++;
    } catch (error) {
      errors.push({ resource, instanceId, operation: 'record', message: messageOf(error) });
      log.error({ resource, instanceId, err: error }, 'instance record not written');
    }
  };

  const works = [...work.values()];
  const creates = (entry: InstanceWork): boolean => entry.actions.some((action) => action.type !== 'delete');
  await forEachLimit(
    works.filter((entry) => !creates(entry)),
    CONCURRENCY,
    perform,
  );
  const creating = works.filter(creates);
  const cap = app.settings.maxPodCreationsPerRun;
  let started = 0;
  for (const size of slowStartBatches(creating.length, cap)) {
    if (failedCreations > 0) break;
    await forEachLimit(creating.slice(started, started + size), CONCURRENCY, perform);
    started += size;
  }
  const deferred = creating.slice(started).map((entry) => entry.instanceId);
  if (deferred.length > 0) {
    metrics.count('CreationsDeferred', deferred.length);
    log.warn(
      { resource, deferred, created: started },
      failedCreations > 0
        ? `a pod creation failed: ${deferred.length} more left for the next run (slow start)`
        : `${deferred.length} pod creations left for the next run (at most ${cap} per run)`,
    );
  }
  const alerts: OrchestratorAlert[] = [];
  // Raised when the limit is first met (a refused instance that had no error record), not at every run it lasts.
  if (lastRefusal && refused.some((instanceId) => stored.get(instanceId)?.action !== 'error')) {
    alerts.push({
      type: 'pod-limit',
      resource,
      refused: 'create',
      limit: lastRefusal.limit.max,
      setting: lastRefusal.limit.setting,
      pods: lastRefusal.running,
      instances: [...refused, ...deferred],
      at: now(),
    });
  }

  await forEachLimit(decision.orphans, CONCURRENCY, async (orphan) => {
    if (!leaseHeld()) {
      leftForNextRun++;
      return;
    }
    const error = await deletePod(orphan.instanceId, orphan.name);
    done({
      type: 'orphan',
      instanceId: orphan.instanceId,
      pod: orphan.name,
      reason: orphan.reason,
      ok: !error,
      ...(error ? { error } : {}),
    });
  });

  if (leftForNextRun > 0) {
    errors.push({
      resource,
      operation: 'lease',
      message: `the run outlasted its lease; ${leftForNextRun} instances or orphans left for the next run`,
    });
    log.warn({ resource, leftForNextRun }, 'lease nearly expired: stopped acting');
  }
  if (recordsWritten > 0) metrics.count('RecordsWritten', recordsWritten);
  return { actions: executed, recordsWritten, deferred, alerts };
}

const METRIC: Record<ExecutedType, string> = {
  create: 'PodsCreated',
  replace: 'PodsReplaced',
  delete: 'PodsDeleted',
  recycle: 'PodsRecycled',
  orphan: 'OrphansDeleted',
};
const PAST: Record<ExecutedType, string> = {
  create: 'created',
  replace: 'created replacement',
  delete: 'deleted',
  recycle: 'recycled',
  orphan: 'deleted orphan',
};

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function forEachLimit<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
