/**
 * The reconcile decision: from what the store says should run (instances,
 * heartbeats, records) and what the runtime says does run (one pod list),
 * which pods to create and delete. Pure and deterministic: the same input
 * always gives the same output, so every rule is tested with object literals.
 *
 * Rules, per instance of the kind:
 * - pods belong to an instance by their `instanceId` label, never by name;
 *   terminating pods are ignored for liveness (a replacement gets a new name);
 * - no live pod → create one; a live pod in Succeeded/Failed/Unknown → delete it
 *   and create a replacement;
 * - several live pods → keep the newest Running one, delete the others;
 * - heartbeat kinds: a pod past its start-up grace whose instance has been
 *   silent longer than the timeout is recycled (delete, then create), unless
 *   the outage guard holds (too many silent at once) or this run's recycle cap
 *   is spent;
 * - crash-loop back-off (lib/reconcile/crash-loop.ts): after a recycle or a
 *   replacement the instance's next one waits 10 s, then 20 s, 40 s … up to
 *   5 min (the silent or dead pod stays meanwhile, so a slow starter may still
 *   come up). A back-off wait takes no recycle of the cap;
 * - a pod labelled for an instance that no longer exists is an orphan: deleted.
 */
import type { OrchestratorAlert } from '../alerts.js';
import type { KindConfig } from '../config/kinds.js';
import type { Settings } from '../config/settings.js';
import { DEFAULT_SETTINGS } from '../config/settings.js';
import { byNumericId } from '../domain/orchestration.js';
import { podName, type PodInfo, type PodPhase } from '../instances/port.js';
import type { InstanceRecord } from '../orchestration/types.js';
import { afterRestart, type Backoff, backoffWait, sameBackoff, trackBackoff, withBackoff } from './crash-loop.js';

export type ReconcileSettings = Pick<
  Settings,
  'heartbeatTimeoutMs' | 'startupGraceMs' | 'fleetSilentFraction' | 'maxRecyclesPerRun'
>;

export const DEFAULT_RECONCILE_SETTINGS: ReconcileSettings = {
  heartbeatTimeoutMs: DEFAULT_SETTINGS.heartbeatTimeoutMs,
  startupGraceMs: DEFAULT_SETTINGS.startupGraceMs,
  fleetSilentFraction: DEFAULT_SETTINGS.fleetSilentFraction,
  maxRecyclesPerRun: DEFAULT_SETTINGS.maxRecyclesPerRun,
};

/**
 * The outage guard needs at least this many silent instances: one silent
 * instance is just a silent instance, even in a fleet of one or two.
 */
export const MIN_SILENT_FOR_OUTAGE = 2;

export interface ReconcileInput {
  readonly kind: KindConfig;
  readonly settings: ReconcileSettings;
  /** Epoch ms of this run. */
  readonly now: number;
  /** The instances the orchestration has (desired state). */
  readonly instanceIds: readonly string[];
  /** Last heartbeat per instance id; ignored for kinds without heartbeats. */
  readonly heartbeats: ReadonlyMap<string, { readonly at: number }>;
  /** Every pod of the kind from one list call, terminating ones included. */
  readonly pods: readonly PodInfo[];
  /** Stored records per instance id: generation counters and what was last done. */
  readonly records: ReadonlyMap<string, InstanceRecord>;
}

/** Start a pod for an instance that has no usable one. */
export interface CreatePod {
  readonly type: 'create';
  readonly instanceId: string;
  readonly name: string;
  readonly generation: number;
  /** 'created' when the instance had no live pod, 'replaced' when a dead one is being replaced. */
  readonly outcome: 'created' | 'replaced';
  readonly reason: string;
}

/** Delete one pod of an instance (dead, or a duplicate). */
export interface DeletePod {
  readonly type: 'delete';
  readonly instanceId: string;
  readonly name: string;
  readonly reason: string;
}

/** Delete a silent pod, then create its successor; the create waits for the delete to be accepted. */
export interface RecyclePod {
  readonly type: 'recycle';
  readonly instanceId: string;
  readonly oldName: string;
  readonly name: string;
  readonly generation: number;
  readonly reason: string;
}

export type PodAction = CreatePod | DeletePod | RecyclePod;

/** A pod whose instance is not in the orchestration. */
export interface OrphanDeletion {
  readonly instanceId: string;
  readonly name: string;
  readonly reason: string;
}

/** A silent or dead instance left alone this run (outage guard, recycle cap, crash-loop back-off), and why. */
export interface HeldBack {
  readonly instanceId: string;
  readonly pod: string;
  readonly reason: string;
}

export interface RecordWrite {
  readonly instanceId: string;
  readonly record: InstanceRecord;
}

export interface ReconcileDecision {
  readonly resource: string;
  /** In instance order; per instance, deletions come before the create. */
  readonly actions: readonly PodAction[];
  readonly orphans: readonly OrphanDeletion[];
  readonly alerts: readonly OrchestratorAlert[];
  /**
   * Records to write once the instance's actions succeeded; only those that
   * differ from the stored one (the use case turns a failure into an 'error' record).
   */
  readonly records: readonly RecordWrite[];
  /** Instances judged silent this run (heartbeat stale, pod past its grace), oldest heartbeat first. */
  readonly silent: readonly string[];
  readonly heldBack: readonly HeldBack[];
}

const DEAD_PHASES: ReadonlySet<PodPhase> = new Set<PodPhase>(['Succeeded', 'Failed', 'Unknown']);

const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/** The generation in a name made by `podName`, or 0 for any other name (e.g. a legacy `iota-dac-3`). */
const generationOf = (kind: KindConfig, instanceId: string, name: string): number => {
  const prefix = `${kind.instanceName}-${instanceId}-g`;
  const digits = name.startsWith(prefix) ? name.slice(prefix.length) : '';
  return /^[0-9]{1,9}$/.test(digits) ? Number(digits) : 0;
};

/** Newest first: Running before Pending, then the later start, then the higher name (deterministic). */
const preferNewestRunning = (a: PodInfo, b: PodInfo): number =>
  Number(b.phase === 'Running') - Number(a.phase === 'Running') ||
  (b.startedAt ?? Number.NEGATIVE_INFINITY) - (a.startedAt ?? Number.NEGATIVE_INFINITY) ||
  (a.name < b.name ? 1 : a.name > b.name ? -1 : 0);

interface InstancePods {
  readonly instanceId: string;
  readonly record: InstanceRecord | undefined;
  /** 1 + the highest generation seen in the record or any pod name of the instance. */
  readonly nextGeneration: number;
  /** The live, healthy pod kept for the instance, if any. */
  readonly keeper: PodInfo | undefined;
  readonly deletions: DeletePod[];
  readonly terminating: readonly PodInfo[];
  readonly dead: readonly PodInfo[];
}

function podsOf(input: ReconcileInput, instanceId: string, pods: readonly PodInfo[]): InstancePods {
  const record = input.records.get(instanceId);
  const generations = pods.map((pod) => generationOf(input.kind, instanceId, pod.name));
  const nextGeneration = Math.max(record?.generation ?? 0, ...generations) + 1;
  const live = pods.filter((pod) => !pod.terminating);
  const dead = live
    .filter((pod) => DEAD_PHASES.has(pod.phase))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const healthy = live.filter((pod) => !DEAD_PHASES.has(pod.phase)).sort(preferNewestRunning);
  const keeper = healthy[0];
  const deletions: DeletePod[] = [
    ...dead.map((pod) => ({ type: 'delete' as const, instanceId, name: pod.name, reason: `pod is ${pod.phase}` })),
    ...healthy
      .slice(1)
      .map((pod) => ({ type: 'delete' as const, instanceId, name: pod.name, reason: `duplicate of ${keeper!.name}` })),
  ];
  return {
    instanceId,
    record,
    nextGeneration,
    keeper,
    deletions,
    terminating: pods.filter((pod) => pod.terminating),
    dead,
  };
}

interface SilentCandidate {
  readonly instance: InstancePods;
  readonly keeper: PodInfo;
  readonly lastBeat: number | undefined;
  readonly reason: string;
}

/** Heartbeat stale (or never seen) and the pod past its start-up grace. A pod without a start time cannot be aged: it is left alone. */
function silence(input: ReconcileInput, instance: InstancePods): SilentCandidate | undefined {
  const keeper = instance.keeper;
  if (!input.kind.heartbeat || !keeper || keeper.startedAt === undefined) return undefined;
  const { heartbeatTimeoutMs, startupGraceMs } = input.settings;
  const lastBeat = input.heartbeats.get(instance.instanceId)?.at;
  if (lastBeat !== undefined && input.now - lastBeat <= heartbeatTimeoutMs) return undefined;
  const podAge = input.now - keeper.startedAt;
  if (podAge <= startupGraceMs) return undefined;
  const heard = lastBeat === undefined ? 'no heartbeat ever' : `no heartbeat for ${seconds(input.now - lastBeat)}`;
  return {
    instance,
    keeper,
    lastBeat,
    reason: `${heard} (timeout ${seconds(heartbeatTimeoutMs)}); pod ${keeper.name} up ${seconds(podAge)}`,
  };
}

/** Oldest heartbeat first (never heard = oldest), then the older pod, then the instance id. */
const bySilenceOrder = (a: SilentCandidate, b: SilentCandidate): number =>
  (a.lastBeat ?? Number.NEGATIVE_INFINITY) - (b.lastBeat ?? Number.NEGATIVE_INFINITY) ||
  (a.keeper.startedAt ?? 0) - (b.keeper.startedAt ?? 0) ||
  byNumericId(a.instance.instanceId, b.instance.instanceId);

/** The instance serves: its pod is Running, or (heartbeat kinds) was heard from since it started, within the timeout. */
function isHealthy(input: ReconcileInput, instance: InstancePods): boolean {
  const keeper = instance.keeper;
  if (!keeper) return false;
  if (!input.kind.heartbeat) return keeper.phase === 'Running';
  const lastBeat = input.heartbeats.get(instance.instanceId)?.at;
  return (
    lastBeat !== undefined &&
    input.now - lastBeat <= input.settings.heartbeatTimeoutMs &&
    // A beat older than the pod came from its predecessor.
    lastBeat >= (keeper.startedAt ?? Number.NEGATIVE_INFINITY)
  );
}

const trackedBackoff = (input: ReconcileInput, instance: InstancePods): Backoff =>
  trackBackoff(instance.record?.backoff, isHealthy(input, instance), input.now);

/** The restart count and back-off carried over when no restart happens. */
function keptRestarts(input: ReconcileInput, instance: InstancePods): Pick<InstanceRecord, 'restarts' | 'backoff'> {
  const restarts = instance.record?.restarts;
  const backoff = trackedBackoff(input, instance);
  return { ...(restarts ? { restarts } : {}), ...(backoff ? { backoff } : {}) };
}

/**
 * What an instance's record should say when no pod is started for it: adopt a
 * new or changed pod, follow the phase of its pod (a dead one waiting out its
 * back-off too), track the back-off.
 */
function observedRecord(input: ReconcileInput, instance: InstancePods): InstanceRecord | undefined {
  const { keeper, record } = instance;
  const backoff = trackedBackoff(input, instance);
  if (keeper && (!record || record.pod !== keeper.name || record.action === 'error')) {
    return {
      action: 'none',
      reason: `observed pod ${keeper.name}`,
      pod: keeper.name,
      generation: instance.nextGeneration - 1,
      at: input.now,
      phase: keeper.phase,
      ...keptRestarts(input, instance),
    };
  }
  if (!record) return undefined;
  const phase = (keeper ?? instance.dead.find((pod) => pod.name === record.pod))?.phase ?? record.phase;
  const generation = keeper ? instance.nextGeneration - 1 : record.generation;
  if (phase === record.phase && generation === record.generation && sameBackoff(backoff, record.backoff))
    return undefined;
  return withBackoff({ ...record, ...(phase !== undefined ? { phase } : {}), generation }, backoff);
}

export function decide(input: ReconcileInput): ReconcileDecision {
  const { kind, settings, now } = input;
  const resource = kind.resource;
  const instanceIds = [...new Set(input.instanceIds)].sort(byNumericId);
  const known = new Set(instanceIds);
  const podsByInstance = new Map<string, PodInfo[]>();
  for (const pod of input.pods) {
    if (pod.resource !== resource) continue;
    const list = podsByInstance.get(pod.instanceId);
    if (list) list.push(pod);
    else podsByInstance.set(pod.instanceId, [pod]);
  }

  const instances = instanceIds.map((id) => podsOf(input, id, podsByInstance.get(id) ?? []));

  // Silence: judged for the whole kind first, since the outage guard and the cap look across instances.
  const silent = instances.flatMap((instance) => silence(input, instance) ?? []).sort(bySilenceOrder);
  const alerts: OrchestratorAlert[] = [];
  const heldBack: HeldBack[] = [];
  const recycle = new Map<string, SilentCandidate>();
  const outage =
    silent.length >= MIN_SILENT_FOR_OUTAGE && silent.length > settings.fleetSilentFraction * instanceIds.length;
  if (outage) {
    alerts.push({
      type: 'fleet-silent',
      resource,
      stale: silent.length,
      total: instanceIds.length,
      at: now,
      instances: silent.map((c) => c.instance.instanceId),
    });
    for (const candidate of silent) {
      heldBack.push({
        instanceId: candidate.instance.instanceId,
        pod: candidate.keeper.name,
        reason: `${candidate.reason}; not recycled: ${silent.length} of ${instanceIds.length} instances silent at once (outage guard)`,
      });
    }
  } else {
    const ready: SilentCandidate[] = [];
    for (const candidate of silent) {
      const wait = backoffWait(candidate.instance.record, now);
      if (wait === undefined) ready.push(candidate);
      else
        heldBack.push({
          instanceId: candidate.instance.instanceId,
          pod: candidate.keeper.name,
          reason: `${candidate.reason}; not recycled: ${wait}`,
        });
    }
    const allowed = Math.max(0, settings.maxRecyclesPerRun);
    for (const candidate of ready.slice(0, allowed)) recycle.set(candidate.instance.instanceId, candidate);
    const deferred = ready.slice(allowed);
    for (const candidate of deferred) {
      heldBack.push({
        instanceId: candidate.instance.instanceId,
        pod: candidate.keeper.name,
        reason: `${candidate.reason}; not recycled: at most ${allowed} recycles per run`,
      });
    }
    if (deferred.length > 0) {
      alerts.push({
        type: 'recycle-storm',
        resource,
        // Those waiting out a back-off are not held by the cap.
        silent: ready.length,
        recycled: recycle.size,
        limit: allowed,
        at: now,
        deferred: deferred.map((c) => c.instance.instanceId),
      });
    }
  }

  const actions: PodAction[] = [];
  const records: RecordWrite[] = [];
  for (const instance of instances) {
    const { instanceId, keeper, nextGeneration } = instance;
    const name = podName(kind, instanceId, nextGeneration);
    let record: InstanceRecord | undefined;
    const candidate = recycle.get(instanceId);
    const replaced = !keeper && instance.dead.length > 0;
    const deadReason = `pod ${instance.dead.map((pod) => `${pod.name} is ${pod.phase}`).join(', ')}`;
    const replacementWait = replaced ? backoffWait(instance.record, now) : undefined;
    if (replacementWait !== undefined) {
      // The dead pod stays until the wait is over: deleting it now would leave "no pod", created at once.
      heldBack.push({
        instanceId,
        pod: instance.dead[0]!.name,
        reason: `${deadReason}; not replaced: ${replacementWait}`,
      });
      record = observedRecord(input, instance);
    } else if (!keeper) {
      actions.push(...instance.deletions);
      const reason = replaced
        ? deadReason
        : instance.terminating.length > 0
          ? `no live pod (${instance.terminating.map((pod) => pod.name).join(', ')} terminating)`
          : 'no pod';
      const outcome = replaced ? 'replaced' : 'created';
      actions.push({ type: 'create', instanceId, name, generation: nextGeneration, outcome, reason });
      const restarts = replaced ? afterRestart(instance.record, now) : keptRestarts(input, instance);
      // A pod just created is Pending until observed otherwise (Kubernetes' own first phase).
      record = {
        action: outcome,
        reason,
        pod: name,
        generation: nextGeneration,
        at: now,
        phase: 'Pending',
        ...restarts,
      };
    } else if (candidate) {
      actions.push(...instance.deletions);
      actions.push({
        type: 'recycle',
        instanceId,
        oldName: keeper.name,
        name,
        generation: nextGeneration,
        reason: candidate.reason,
      });
      record = {
        action: 'recycled',
        reason: candidate.reason,
        pod: name,
        generation: nextGeneration,
        at: now,
        phase: 'Pending',
        ...afterRestart(instance.record, now),
      };
    } else {
      actions.push(...instance.deletions);
      record = observedRecord(input, instance);
    }
    if (record) records.push({ instanceId, record });
  }

  const orphans: OrphanDeletion[] = input.pods
    .filter((pod) => pod.resource === resource && !pod.terminating && !known.has(pod.instanceId))
    .sort((a, b) => byNumericId(a.instanceId, b.instanceId) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((pod) => ({
      instanceId: pod.instanceId,
      name: pod.name,
      reason: `instance ${pod.instanceId} is not in the ${resource} orchestration`,
    }));

  return {
    resource,
    actions,
    orphans,
    alerts,
    records,
    silent: silent.map((c) => c.instance.instanceId),
    heldBack,
  };
}
