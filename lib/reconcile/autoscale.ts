/**
 * Elastic scaling, one kind per reconcile run (SPEC §5): sample the pods'
 * CPU and memory (one usage call per kind), decide with the pure
 * `decideScale`, then carry it out through the orchestration core:
 * - scale-out opens instances (their pods are created by this same run) and
 *   first takes back instances a scale-in was still draining;
 * - scale-in marks the highest-numbered instances draining;
 * - while moves are owed, one wave of the minimal re-orchestration moves at
 *   most `maxMovesPerRun` resources, only to workers that serve;
 * - a drained, empty instance loses its pod, then its nodes.
 * Every step is stored before or as it happens (the history and the moves
 * owed in the scaling node, the drain on the instance itself), so a run that
 * dies anywhere is finished by the next one and no resource is lost.
 */
import type { OrchestratorAlert } from '../alerts.js';
import { resolveScaling, type ScalingSettings } from '../config/scaling.js';
import type { KindConfig } from '../config/kinds.js';
import { byNumericId } from '../domain/orchestration.js';
import type { PodInfo, PodUsage } from '../instances/port.js';
import { LeaseHeldError } from '../orchestration/errors.js';
import { orchestrateLease, renewalDue } from '../orchestration/leases.js';
import type { InstanceUsage, Lease, ScalingInstance, ScalingState } from '../orchestration/types.js';
import { type KindContext, messageOf } from './act.js';
import { decideScale, type PodMetrics, type ScaleDirection } from './scale.js';

/** What scaling did for one kind in one run. */
export interface ScaleReport {
  /** Instances not draining, before this run acted. */
  readonly current: number;
  readonly desired: number;
  readonly direction: ScaleDirection;
  readonly reason: string;
  readonly opened: readonly string[];
  /** Draining instances taken back by a scale-out. */
  readonly resumed: readonly string[];
  readonly drainStarted: readonly string[];
  /** Drained instances removed (pod, then nodes). */
  readonly closed: readonly string[];
  readonly moved: number;
  /** Moves still owed after this run (towards workers not ready yet, or past the per-run budget). */
  readonly remainingMoves: number;
  /** Set when scaling did nothing this run, and why. */
  readonly skipped?: string;
}

export interface WorkerObservation {
  /** Instances whose current pod serves: moves may go to them. */
  readonly serving: ReadonlySet<string>;
  /** One entry per non-draining instance, for decideScale. */
  readonly metrics: readonly PodMetrics[];
  /** Last usage per instance that has one, for the view. */
  readonly usage: Readonly<Record<string, InstanceUsage>>;
}

/**
 * Pure: per instance, whether its worker serves (Running, and for heartbeat
 * kinds a heartbeat since the pod started) and whether its numbers count (it
 * serves and is past the start-up grace: a starting worker's CPU says nothing
 * about its load, the HPA's unready rule).
 */
export function observeWorkers(input: {
  readonly kind: Pick<KindConfig, 'heartbeat'>;
  readonly startupGraceMs: number;
  readonly now: number;
  readonly instances: readonly ScalingInstance[];
  readonly pods: readonly PodInfo[];
  readonly heartbeats: ReadonlyMap<string, { readonly at: number }>;
  readonly usage: readonly PodUsage[];
}): WorkerObservation {
  const serving = new Set<string>();
  const metrics: PodMetrics[] = [];
  const usage: Record<string, InstanceUsage> = {};
  for (const instance of input.instances) {
    const pod = input.pods
      .filter((p) => p.instanceId === instance.id && !p.terminating && p.phase === 'Running')
      .sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0))[0];
    const beat = input.heartbeats.get(instance.id);
    const serves =
      pod !== undefined && (!input.kind.heartbeat || (beat !== undefined && beat.at >= (pod.startedAt ?? 0)));
    if (serves) serving.add(instance.id);
    const sample = pod && input.usage.find((u) => u.name === pod.name);
    if (sample) usage[instance.id] = { cpuPercent: sample.cpuPercent, memoryPercent: sample.memoryPercent };
    if (instance.draining) continue;
    const pastGrace = pod?.startedAt === undefined || input.now - pod.startedAt >= input.startupGraceMs;
    metrics.push({
      instanceId: instance.id,
      cpuPercent: sample?.cpuPercent,
      memoryPercent: sample?.memoryPercent,
      ready: serves && pastGrace,
    });
  }
  return { serving, metrics, usage };
}

/** Scales one kind; undefined for a kind that is not orchestrated yet. Failures land in `errors`, never thrown. */
export async function autoscale(
  context: KindContext,
  observed: { readonly pods: readonly PodInfo[]; readonly heartbeats: ReadonlyMap<string, { readonly at: number }> },
  holder: string,
): Promise<{ report: ScaleReport; alerts: readonly OrchestratorAlert[] } | undefined> {
  const { app, kind, runtime, now, log, errors } = context;
  const resource = kind.resource;
  const settings = resolveScaling(kind.scaling);
  const orchestrator = app.orchestrator;
  try {
    const snapshot = await orchestrator.scalingSnapshot(resource);
    if (snapshot.instances.length === 0) return undefined;
    const usage = await runtime.usage(kind).catch((error: unknown) => {
      log.warn({ resource, err: error }, 'pod usage could not be read: scaling holds');
      return [];
    });
    const observation = observeWorkers({
      kind,
      startupGraceMs: app.settings.startupGraceMs,
      now: now(),
      instances: snapshot.instances,
      pods: observed.pods,
      heartbeats: observed.heartbeats,
      usage,
    });
    if (!settings.enabled) {
      // Scaling switched off mid-drain: the drained instances take resources again.
      const draining = snapshot.instances.filter((instance) => instance.draining).map((instance) => instance.id);
      if (draining.length > 0) {
        await orchestrator.setDraining(resource, draining, false);
        log.info({ resource, draining }, `${resource}: scaling is disabled, drains ended`);
      }
      // Usage is still worth showing; nothing else is kept for a kind that does not scale.
      const current = snapshot.instances.length;
      const lastRun = runRecord(now(), current, current, current, 'hold', 'scaling disabled', [], observation.usage);
      await orchestrator.saveScalingState(resource, { history: [], lastRun });
      return undefined;
    }
    return await scaleKind(context, { settings, snapshot, observation, pods: observed.pods, holder });
  } catch (error) {
    errors.push({ resource, operation: 'scale', message: messageOf(error) });
    log.error({ resource, err: error }, `${resource} not scaled`);
    return undefined;
  }
}

async function scaleKind(
  context: KindContext,
  input: {
    readonly settings: ScalingSettings;
    readonly snapshot: Awaited<ReturnType<KindContext['app']['orchestrator']['scalingSnapshot']>>;
    readonly observation: WorkerObservation;
    readonly pods: readonly PodInfo[];
    readonly holder: string;
  },
): Promise<{ report: ScaleReport; alerts: readonly OrchestratorAlert[] }> {
  const { app, kind, now, log, metrics, leaseHeld } = context;
  const { settings, snapshot, observation } = input;
  const resource = kind.resource;
  const orchestrator = app.orchestrator;
  const state = snapshot.state;
  const active = snapshot.instances.filter((instance) => !instance.draining).sort(byNumericId);
  const draining = snapshot.instances.filter((instance) => instance.draining).sort(byNumericId);
  const at = now();

  const decision = decideScale({
    resource,
    settings,
    now: at,
    current: active.length,
    pods: observation.metrics,
    history: state.history,
    loads: state.loads,
    lastDecision: state.lastDecision,
  });
  // Never drain below what the resources need: the rest of the pool must hold them.
  const assigned = snapshot.instances.reduce((sum, instance) => sum + instance.used, 0);
  const floor = Math.max(1, Math.ceil(assigned / snapshot.resourcePerInstance));
  const desired =
    decision.direction === 'down' ? Math.max(decision.desired, Math.min(floor, active.length)) : decision.desired;
  const direction: ScaleDirection = desired > active.length ? 'up' : desired < active.length ? 'down' : 'hold';
  const reason =
    desired === decision.desired
      ? decision.reason
      : `${decision.reason}; ${assigned} resources need ${floor} instances`;
  const kindMetrics = metrics.child({ Resource: resource });
  kindMetrics.gauge('CurrentInstances', active.length);
  kindMetrics.gauge('DesiredInstances', desired);

  // Opened by a scale-out and not serving yet: placement avoids them (a resource there would wait for the worker).
  const existing = new Set(snapshot.instances.map((instance) => instance.id));
  const stillWarming = (state.warming ?? []).filter((id) => existing.has(id) && !observation.serving.has(id));
  const raised = new Set(state.lastRun?.alerts ?? []);
  const alerts = decision.alerts.filter((alert) => !raised.has(alert.type));
  const scaled = direction !== 'hold';
  const owed = scaled || state.rebalance !== undefined || draining.some((instance) => instance.used > 0);
  let next: ScalingState = {
    history: [...decision.history],
    loads: [...decision.loads],
    ...(scaled
      ? { lastDecision: { at, from: active.length, to: desired, direction, reason } }
      : state.lastDecision
        ? { lastDecision: state.lastDecision }
        : {}),
    lastRun: runRecord(
      at,
      active.length,
      desired,
      decision.recommendation,
      direction,
      reason,
      decision.alerts.map((alert) => alert.type),
      observation.usage,
    ),
    ...(owed ? { rebalance: state.rebalance ?? { since: at, moved: 0, remaining: 0, minimumMoves: 0 } } : {}),
    ...warmingOf(stillWarming),
  };
  const base = { current: active.length, desired, direction, reason };
  const nothing = { opened: [], resumed: [], drainStarted: [], closed: [], moved: 0, remainingMoves: 0 };

  let lease: Lease;
  try {
    lease = await orchestrator.acquireLease(
      orchestrateLease(resource),
      input.holder,
      app.settings.orchestrateLeaseTtlMs,
    );
  } catch (error) {
    if (!(error instanceof LeaseHeldError)) throw error;
    log.info({ resource, heldBy: error.holder }, 'scaling waits: an orchestrate of this kind is running');
    return { report: { ...base, ...nothing, skipped: 'an orchestrate of this kind is running' }, alerts: [] };
  }
  const keepLease = async (): Promise<boolean> => {
    if (!leaseHeld()) return false;
    // Leases are on the App's clock (the store's timeline), not the decision clock.
    if (renewalDue(lease, app.clock())) lease = await orchestrator.renewLease(lease);
    return true;
  };
  try {
    // Stored first: a run that dies below still leaves the window and the moves owed for the next one.
    await orchestrator.saveScalingState(resource, next);
    let opened: string[] = [];
    let resumed: string[] = [];
    let drainStarted: string[] = [];
    if (direction === 'up') {
      resumed = draining.slice(0, desired - active.length).map((instance) => instance.id);
      await orchestrator.setDraining(resource, resumed, false);
      opened = await orchestrator.openInstances(resource, desired - active.length - resumed.length);
      log.info({ resource, from: active.length, to: desired, opened, resumed, reason }, `${resource} scaling out`);
    } else if (direction === 'down') {
      drainStarted = active.slice(desired).map((instance) => instance.id);
      await orchestrator.setDraining(resource, drainStarted, true);
      log.info(
        { resource, from: active.length, to: desired, draining: drainStarted, reason },
        `${resource} scaling in`,
      );
    }

    if (opened.length > 0) {
      next = { ...next, ...warmingOf([...stillWarming, ...opened]) };
      await orchestrator.saveScalingState(resource, next);
    }

    let moved = 0;
    let remainingMoves = 0;
    if (owed) {
      const wave = await orchestrator.rebalanceWave(resource, {
        ready: observation.serving,
        maxMoves: settings.maxMovesPerRun,
        shouldContinue: keepLease,
      });
      moved = wave.moved;
      remainingMoves = wave.remaining;
      kindMetrics.count('ResourcesMoved', moved);
      const rebalance = next.rebalance!;
      const progress =
        remainingMoves === 0
          ? undefined
          : {
              since: rebalance.since,
              moved: rebalance.moved + moved,
              remaining: remainingMoves,
              minimumMoves: rebalance.moved === 0 ? wave.minimumMoves : rebalance.minimumMoves,
            };
      if (moved > 0 || progress === undefined)
        log.info({ resource, moved, remaining: remainingMoves }, `${resource}: ${moved} resources moved`);
      const { rebalance: _done, ...rest } = next;
      await orchestrator.saveScalingState(resource, progress ? { ...rest, rebalance: progress } : rest);
    }

    const closed = await closeDrained(context, input.pods);
    kindMetrics.flush();
    return { report: { ...base, opened, resumed, drainStarted, closed, moved, remainingMoves }, alerts };
  } finally {
    await orchestrator.releaseLease(lease).catch((error: unknown) => {
      log.warn({ resource, err: error }, 'orchestrate lease not released: it expires on its own');
    });
  }
}

/** Drained instances that are empty now: their pods go first, then their nodes (a crash between is finished next run). */
async function closeDrained(context: KindContext, pods: readonly PodInfo[]): Promise<string[]> {
  const { app, kind, runtime, errors, log } = context;
  const resource = kind.resource;
  const { instances } = await app.orchestrator.scalingSnapshot(resource);
  const empty = instances.filter((instance) => instance.draining && instance.used === 0);
  if (empty.length === 0) return [];
  const closed: string[] = [];
  for (const instance of empty) {
    if (!context.leaseHeld()) break;
    let podsGone = true;
    for (const pod of pods.filter((p) => p.instanceId === instance.id && !p.terminating)) {
      try {
        await runtime.delete(kind, pod.name);
      } catch (error) {
        podsGone = false;
        errors.push({
          resource,
          instanceId: instance.id,
          pod: pod.name,
          operation: 'delete',
          message: messageOf(error),
        });
      }
    }
    if (!podsGone) continue;
    if (await app.orchestrator.closeDrained(resource, instance.id)) {
      closed.push(instance.id);
      log.info({ resource, instanceId: instance.id }, `${resource} instance ${instance.id} drained and removed`);
    }
  }
  return closed;
}

const warmingOf = (ids: readonly string[]): Pick<ScalingState, 'warming'> =>
  ids.length > 0 ? { warming: [...ids].sort(byNumericId) } : {};

function runRecord(
  at: number,
  current: number,
  desired: number,
  recommendation: number,
  direction: ScaleDirection,
  reason: string,
  alerts: readonly string[],
  usage: Readonly<Record<string, InstanceUsage>>,
): NonNullable<ScalingState['lastRun']> {
  return { at, current, desired, recommendation, direction, reason, alerts: [...alerts], usage: { ...usage } };
}
