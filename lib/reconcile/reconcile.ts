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
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AlertPublisher, OrchestratorAlert, PublishOutcome } from '../alerts.js';
import type { App } from '../app.js';
import { nodeCrypto } from '../lazy-crypto.js';
import type { Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { forwardAlerts } from '../orchestration/alert-outbox.js';
import { LeaseHeldError } from '../orchestration/errors.js';
import type { Lease } from '../orchestration/types.js';
import { act, type KindContext, messageOf, placePending } from './act.js';
import { autoscale, type ScaleReport } from './autoscale.js';
import { decide, type HeldBack, type PodAction } from './decide.js';
import { CountingRuntime, type ReconcileSummary, summarizeReport } from './report.js';
import { ReconcileFailedError, type ReconcileTrigger } from './trigger.js';

export { summarizeReport, type ReconcileSummary } from './report.js';

export const RECONCILE_LEASE = 'reconcile';

/** Stop acting once this share of the lease is used up, so no run acts without holding it. */
const LEASE_SAFETY = 0.8;

export interface ReconcileOptions {
  /** Lease holder name; default `<hostname>/<pid>/<random>` (unique per run). */
  readonly holder?: string;
  /** Clock for the decisions (heartbeat and pod ages); default the App's. */
  readonly now?: () => number;
  /** Where this run's alerts go; default the App's (logged and kept in the store's outbox). */
  readonly alerts?: AlertPublisher;
  /** Where the outbox's undelivered alerts are forwarded; default the App's forwarder (Kafka), if any. */
  readonly forwardAlerts?: AlertPublisher;
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
  /** Instances whose pod creation waits for the next run (slow start stopped at a failure, or the run's cap). */
  readonly deferred: readonly string[];
  readonly recordsWritten: number;
  /** What elastic scaling did; absent for a kind that does not scale or is not orchestrated yet. */
  readonly scaling?: ScaleReport;
}

export interface ReconcileError {
  readonly resource: string;
  readonly instanceId?: string;
  readonly pod?: string;
  readonly operation: 'read' | 'list' | 'create' | 'delete' | 'record' | 'lease' | 'place-pending' | 'scale';
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
  /** What forwarding the store's outbox (this run's alerts and those api and notify raised) did. */
  readonly alertsForwarded?: PublishOutcome;
  /** Instance-runtime calls made, by verb (Kubernetes API requests in production). */
  readonly apiCalls: ApiCalls;
}

export async function reconcile(app: App, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const now = options.now ?? app.clock;
  const holder = options.holder ?? `${hostname()}/${process.pid}/${nodeCrypto().randomUUID().slice(0, 8)}`;
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
  let alertsForwarded: PublishOutcome | undefined;
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
      const outcome = await reconcileKind({ app, kind, runtime, now, log, metrics, errors, leaseHeld }, holder);
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
    const forwarder = options.forwardAlerts ?? app.alertForwarder;
    if (forwarder) {
      alertsForwarded = await forwardAlerts(app.alertOutbox, forwarder).catch((error: unknown) => {
        log.warn({ err: error }, 'stored alerts not forwarded; the next run retries');
        return { logged: 0, delivered: 0, failed: 1, error: messageOf(error) };
      });
      if (alertsForwarded && alertsForwarded.failed > 0) metrics.count('AlertForwardFailures', alertsForwarded.failed);
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
    ...(alertsForwarded ? { alertsForwarded } : {}),
    apiCalls: runtime.calls(),
  };
  log[status === 'done' ? 'info' : 'error'](
    { ...summarizeReport(report), durationMs: report.durationMs },
    `reconcile ${status}`,
  );
  return report;
}

/** Read, decide, act for one kind. Undefined when the kind could not be read (the error is in `errors`). */
async function reconcileKind(
  context: KindContext,
  holder: string,
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
      { resource, errors: errors.filter((e) => e.resource === resource), reported: true },
      `${resource} not reconciled: state could not be read`,
    );
    return undefined;
  }

  // Scaling first: the pods of the instances it opens are created by this same run.
  const scaled = await autoscale(context, { pods: pods.value, heartbeats: heartbeats.value }, holder);
  let instanceIds = state.value;
  let podList = pods.value;
  if (scaled && (scaled.report.opened.length > 0 || scaled.report.closed.length > 0)) {
    const closed = new Set(scaled.report.closed);
    instanceIds = await orchestrator.instanceIds(resource).catch(() => instanceIds.filter((id) => !closed.has(id)));
    podList = podList.filter((pod) => !closed.has(pod.instanceId));
  }

  const decision = decide({
    kind,
    settings: app.settings,
    now: now(),
    instanceIds,
    heartbeats: heartbeats.value,
    pods: podList,
    records: records.value,
  });
  for (const held of decision.heldBack)
    log.warn({ resource, instanceId: held.instanceId, pod: held.pod, reported: true }, `not recycled: ${held.reason}`);
  if (decision.heldBack.length > 0) metrics.count('RecyclesHeldBack', decision.heldBack.length);

  const executed = await act(context, decision, records.value);
  await placePending(context);
  return {
    report: {
      resource,
      instances: instanceIds.length,
      pods: pods.value.length,
      actions: executed.actions,
      silent: decision.silent,
      heldBack: decision.heldBack,
      deferred: executed.deferred,
      recordsWritten: executed.recordsWritten,
      ...(scaled ? { scaling: scaled.report } : {}),
    },
    alerts: [...decision.alerts, ...executed.alerts, ...(scaled?.alerts ?? [])],
  };
}

/** The reconcile function's answer: the run's summary, what triggered it, and where its pods live. */
export type ReconcileRunResponse = ReconcileSummary & { trigger: string; runtime: string };

/**
 * The reconcile function's run: `failed` (no kind could be reconciled) throws ReconcileFailedError, so the
 * invocation shows as an error; `runtime` says where the pods live, and when it only looked (`sls invoke local`).
 */
export async function reconcileRun(
  app: App,
  trigger: ReconcileTrigger,
  holder: string | undefined,
): Promise<ReconcileRunResponse> {
  const report = await reconcile(app, holder ? { holder } : {});
  if (report.status === 'failed')
    throw new ReconcileFailedError(
      report.failedKinds,
      report.errors.map((error) => error.message),
    );
  const { description: runtime } = await app.runtime();
  return {
    trigger: `${trigger.source} ${trigger['detail-type']} ${trigger.time}`,
    runtime,
    ...summarizeReport(report),
  };
}
