/**
 * The reconcile loop, level-triggered like a Kubernetes controller: a run
 * looks at desired state (the orchestration's instances), observed state (one
 * pod list per kind) and heartbeats, decides with the pure `decide`, acts, and
 * records what it did. It keeps no memory between runs, so a run that died
 * half-way is simply finished by the next one.
 *
 * Runs are serialised by a lease in the store: two overlapping runs (two
 * schedules firing, a retry, a manual invoke) cannot both recycle an instance.
 * A runtime error on one instance is recorded on that instance and retried
 * next run; it never stops the others.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AlertPublisher, OrchestratorAlert, PublishOutcome } from '../alerts.js';
import type { App } from '../app.js';
import type { KindConfig } from '../config/kinds.js';
import type { InstanceRuntime, PodInfo, PodSpec, PodUsage } from '../instances/port.js';
import type { Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { LeaseHeldError } from '../orchestration/errors.js';
import type { InstanceRecord, Lease } from '../orchestration/types.js';
import { decide, type HeldBack, type PodAction, type ReconcileDecision } from './decide.js';

export const RECONCILE_LEASE = 'reconcile';

/** Runtime calls in flight per kind: enough to recreate 100 pods in seconds without flooding the API server. */
const CONCURRENCY = 8;

/** Stop acting once this share of the lease is used up, so no run acts without holding it. */
const LEASE_SAFETY = 0.8;

export interface ReconcileOptions {
  /** Lease holder name; default `<hostname>/<pid>/<random>` (unique per run). */
  readonly holder?: string;
  /** Clock for the decisions (heartbeat and pod ages); default the App's. */
  readonly now?: () => number;
  /** Default: the App's publisher (Kafka when KAFKA_BROKERS is set, else log only). */
  readonly alerts?: AlertPublisher;
  /** Default: a fresh Metrics flushed (one EMF line) at the end of the run. */
  readonly metrics?: Metrics;
  readonly logger?: Logger;
}

/** 'replace' is the create that replaces a dead pod; 'orphan' the deletion of a pod whose instance is gone. */
export type ExecutedType = PodAction['type'] | 'replace' | 'orphan';

/** One pod operation the run performed (or tried). */
export interface ExecutedAction {
  readonly type: ExecutedType;
  readonly instanceId: string;
  /** The pod created (create, replace, recycle) or deleted (delete, orphan). */
  readonly pod: string;
  /** The pod a recycle deleted. */
  readonly oldPod?: string;
  readonly reason: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface KindReport {
  readonly resource: string;
  readonly instances: number;
  /** Pods listed, terminating ones included. */
  readonly pods: number;
  readonly actions: readonly ExecutedAction[];
  readonly silent: readonly string[];
  readonly heldBack: readonly HeldBack[];
  readonly recordsWritten: number;
}

export interface ReconcileError {
  readonly resource: string;
  readonly instanceId?: string;
  readonly pod?: string;
  readonly operation: 'read' | 'list' | 'create' | 'delete' | 'record' | 'lease' | 'place-pending';
  readonly message: string;
}

export interface ApiCalls {
  readonly list: number;
  readonly create: number;
  readonly delete: number;
}

/**
 * How a run ended: `done` (every kind reconciled), `partial` (some kinds
 * could not be, named in `failedKinds`; the next run retries them), `failed`
 * (none could be: the Lambda entry point throws so it shows as an error), or
 * `skipped` (another run holds the lease).
 */
export type ReconcileStatus = 'done' | 'partial' | 'failed' | 'skipped';

export interface ReconcileReport {
  readonly status: ReconcileStatus;
  /** Kinds this run could not reconcile (state unreadable, or the lease ran out first). */
  readonly failedKinds: readonly string[];
  readonly holder: string;
  readonly startedAt: number;
  readonly durationMs: number;
  /** Set when another run held the lease. */
  readonly skipped?: { readonly reason: string; readonly heldBy: string; readonly until: number };
  readonly kinds: readonly KindReport[];
  readonly errors: readonly ReconcileError[];
  readonly alerts: readonly OrchestratorAlert[];
  readonly alertDelivery?: PublishOutcome;
  /** Instance-runtime calls made, by verb (Kubernetes API requests in production). */
  readonly apiCalls: ApiCalls;
}

export async function reconcile(app: App, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const now = options.now ?? app.clock;
  const holder = options.holder ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const log = (options.logger ?? app.logger).child({ handler: 'reconcile', holder });
  const ownMetrics = options.metrics === undefined;
  const metrics = options.metrics ?? new Metrics('IotaOrchestrator', { Function: 'reconcile' });
  const startedAt = now();
  const clock = performance.now();
  const elapsed = (): number => Math.round(performance.now() - clock);
  const noCalls: ApiCalls = { list: 0, create: 0, delete: 0 };

  let lease: Lease;
  try {
    lease = await app.orchestrator.acquireLease(RECONCILE_LEASE, holder, app.settings.leaseTtlMs);
  } catch (error) {
    if (!(error instanceof LeaseHeldError)) throw error;
    metrics.count('ReconcileSkipped');
    if (ownMetrics) metrics.flush();
    log.info({ heldBy: error.holder, until: error.expiresAt }, 'reconcile skipped: another run holds the lease');
    return {
      status: 'skipped',
      holder,
      startedAt,
      durationMs: elapsed(),
      skipped: { reason: error.message, heldBy: error.holder, until: error.expiresAt },
      failedKinds: [],
      kinds: [],
      errors: [],
      alerts: [],
      apiCalls: noCalls,
    };
  }

  const kinds: KindReport[] = [];
  const failedKinds: string[] = [];
  const errors: ReconcileError[] = [];
  const alerts: OrchestratorAlert[] = [];
  let runtime: CountingRuntime | undefined;
  let alertDelivery: PublishOutcome | undefined;
  try {
    runtime = new CountingRuntime(await app.runtime());
    metrics.count('ReconcileRuns');
    const leaseHeld = (): boolean => elapsed() < app.settings.leaseTtlMs * LEASE_SAFETY;
    for (const kind of app.kinds) {
      if (!leaseHeld()) {
        errors.push({
          resource: kind.resource,
          operation: 'lease',
          message: 'the run outlasted its lease; this kind is left for the next run',
        });
        log.warn({ resource: kind.resource, elapsedMs: elapsed() }, 'lease nearly expired: stopping before this kind');
        failedKinds.push(kind.resource);
        continue;
      }
      const outcome = await reconcileKind({ app, kind, runtime, now, log, metrics, errors, leaseHeld });
      if (outcome) {
        kinds.push(outcome.report);
        alerts.push(...outcome.alerts);
      } else {
        failedKinds.push(kind.resource);
      }
    }
    if (failedKinds.length > 0)
      metrics.count(failedKinds.length < app.kinds.length ? 'ReconcilePartial' : 'ReconcileFailed');
    if (alerts.length > 0) {
      const publisher = options.alerts ?? app.alerts;
      alertDelivery = await publisher.publish(alerts).catch((error: unknown) => ({
        logged: 0,
        delivered: 0,
        failed: alerts.length,
        error: (error as Error).message,
      }));
      metrics.count('AlertsRaised', alerts.length);
      if (alertDelivery.failed > 0) metrics.count('AlertPublishFailures', alertDelivery.failed);
    }
  } finally {
    await app.orchestrator.releaseLease(lease).catch((error: unknown) => {
      // It expires on its own; the next run just waits for it.
      log.warn({ err: error }, 'reconcile lease not released');
    });
    if (ownMetrics) metrics.flush();
  }

  const status: ReconcileStatus =
    failedKinds.length === 0 ? 'done' : failedKinds.length < app.kinds.length ? 'partial' : 'failed';
  const report: ReconcileReport = {
    status,
    failedKinds,
    holder,
    startedAt,
    durationMs: elapsed(),
    kinds,
    errors,
    alerts,
    ...(alertDelivery ? { alertDelivery } : {}),
    apiCalls: runtime.calls(),
  };
  log[status === 'done' ? 'info' : 'error'](
    { ...summarizeReport(report), durationMs: report.durationMs },
    `reconcile ${status}`,
  );
  return report;
}

interface KindContext {
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

/** Read, decide, act for one kind. Undefined when the kind could not be read (the error is in `errors`). */
async function reconcileKind(
  context: KindContext,
): Promise<{ report: KindReport; alerts: readonly OrchestratorAlert[] } | undefined> {
  const { app, kind, runtime, now, log, metrics, errors } = context;
  const resource = kind.resource;
  const orchestrator = app.orchestrator;

  const [state, heartbeats, records, pods] = await Promise.allSettled([
    orchestrator.instanceIds(resource),
    kind.heartbeat ? orchestrator.heartbeats(resource) : Promise.resolve(new Map<string, { at: number }>()),
    orchestrator.records(resource),
    runtime.list(kind),
  ]);
  if (pods.status === 'rejected') {
    errors.push({ resource, operation: 'list', message: messageOf(pods.reason) });
  }
  for (const read of [state, heartbeats, records]) {
    if (read.status === 'rejected') {
      errors.push({ resource, operation: 'read', message: messageOf(read.reason) });
      break;
    }
  }
  if (
    state.status === 'rejected' ||
    heartbeats.status === 'rejected' ||
    records.status === 'rejected' ||
    pods.status === 'rejected'
  ) {
    metrics.count('ReconcileKindFailures');
    log.error(
      { resource, errors: errors.filter((e) => e.resource === resource) },
      `${resource} not reconciled: state could not be read`,
    );
    return undefined;
  }

  const decision = decide({
    kind,
    settings: app.settings,
    now: now(),
    instanceIds: state.value,
    heartbeats: heartbeats.value,
    pods: pods.value,
    records: records.value,
  });
  for (const held of decision.heldBack)
    log.warn({ resource, instanceId: held.instanceId, pod: held.pod }, `not recycled: ${held.reason}`);
  if (decision.heldBack.length > 0) metrics.count('RecyclesHeldBack', decision.heldBack.length);

  const executed = await act(context, decision, records.value);
  await placePending(context);
  return {
    report: {
      resource,
      instances: state.value.length,
      pods: pods.value.length,
      actions: executed.actions,
      silent: decision.silent,
      heldBack: decision.heldBack,
      recordsWritten: executed.recordsWritten,
    },
    alerts: decision.alerts,
  };
}

/** Resources kept pending at the kind's maximum go wherever room has appeared since (deletes, a raised maximum). */
async function placePending({ app, kind, log, metrics, errors }: KindContext): Promise<void> {
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

async function act(
  context: KindContext,
  decision: ReconcileDecision,
  stored: ReadonlyMap<string, InstanceRecord>,
): Promise<{ actions: ExecutedAction[]; recordsWritten: number }> {
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
      log.error({ ...fields, error: action.error }, `${action.type} ${action.pod} failed: ${action.error}`);
      return;
    }
    metrics.count(METRIC[action.type]);
    const verb =
      action.type === 'recycle' ? `recycled ${action.oldPod} as ${action.pod}` : `${PAST[action.type]} ${action.pod}`;
    log.info(fields, `${verb}: ${action.reason}`);
  };

  await forEachLimit([...work.values()], CONCURRENCY, async ({ instanceId, actions, record }) => {
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
    const toWrite: InstanceRecord | undefined = failure
      ? { action: 'error', reason: failure.reason, error: failure.error, pod: failure.pod, generation, at: now() }
      : record;
    if (!toWrite) return;
    try {
      await app.orchestrator.writeRecord(resource, instanceId, toWrite);
      recordsWritten++;
    } catch (error) {
      errors.push({ resource, instanceId, operation: 'record', message: messageOf(error) });
      log.error({ resource, instanceId, err: error }, 'instance record not written');
    }
  });

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
  return { actions: executed, recordsWritten };
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

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function forEachLimit<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Counts the calls made through it, by verb, for the report and the benchmark. */
class CountingRuntime implements InstanceRuntime {
  private readonly counts = { list: 0, create: 0, delete: 0 };
  constructor(private readonly inner: InstanceRuntime) {}
  get description(): string {
    return this.inner.description;
  }
  calls(): ApiCalls {
    return { ...this.counts };
  }
  create(spec: PodSpec): Promise<'created' | 'exists'> {
    this.counts.create++;
    return this.inner.create(spec);
  }
  delete(kind: KindConfig, name: string): Promise<'deleted' | 'absent'> {
    this.counts.delete++;
    return this.inner.delete(kind, name);
  }
  list(kind: KindConfig): Promise<PodInfo[]> {
    this.counts.list++;
    return this.inner.list(kind);
  }
  usage(kind: KindConfig): Promise<PodUsage[]> {
    return this.inner.usage(kind);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface ReconcileSummary {
  readonly status: ReconcileReport['status'];
  readonly failedKinds: readonly string[];
  readonly skipped?: string;
  readonly kinds: Record<
    string,
    {
      instances: number;
      pods: number;
      created: number;
      replaced: number;
      recycled: number;
      deleted: number;
      orphans: number;
      heldBack: number;
      failed: number;
    }
  >;
  readonly errors: number;
  readonly alerts: readonly string[];
  readonly apiCalls: ApiCalls;
}

/** A compact view of a report: counts per kind, for handler responses and the run's log line. */
export function summarizeReport(report: ReconcileReport): ReconcileSummary {
  const kinds: ReconcileSummary['kinds'] = {};
  for (const kind of report.kinds) {
    const ok = kind.actions.filter((a) => a.ok);
    kinds[kind.resource] = {
      instances: kind.instances,
      pods: kind.pods,
      created: ok.filter((a) => a.type === 'create').length,
      replaced: ok.filter((a) => a.type === 'replace').length,
      recycled: ok.filter((a) => a.type === 'recycle').length,
      deleted: ok.filter((a) => a.type === 'delete').length,
      orphans: ok.filter((a) => a.type === 'orphan').length,
      heldBack: kind.heldBack.length,
      failed: kind.actions.length - ok.length,
    };
  }
  return {
    status: report.status,
    failedKinds: report.failedKinds,
    ...(report.skipped ? { skipped: report.skipped.reason } : {}),
    kinds,
    errors: report.errors.length,
    alerts: report.alerts.map((alert) => `${alert.type}:${alert.resource}`),
    apiCalls: report.apiCalls,
  };
}
