/**
 * What the use cases offer the handlers (functions/), the local runtime and the
 * reconcile loop: the `Orchestration` interface and its data. Implemented by
 * the modules of this folder, assembled in ./index.ts; every method is safe to
 * call twice and from many processes.
 */
import type { KindConfig } from '../config/kinds.js';
import type { OrchestrateOptionsInput } from '../domain/options.js';
import type { InstanceState, Move } from '../domain/orchestration.js';
import type { Layout } from './layout.js';
import type * as z from '../zod.js';
import type { CatalogPassSchema, InstanceRecordSchema, ScalingState } from './stored.js';

export interface Placement {
  readonly id: string;
  readonly instanceId: string;
}

export interface AssignResult {
  /** Newly placed by this call. */
  readonly assigned: readonly Placement[];
  /** Already on an instance before this call (a redelivered message): nothing written for them. */
  readonly alreadyAssigned: readonly Placement[];
  /** Instances this call had to create because every instance was full. */
  readonly createdInstances: readonly string[];
  /** Ids that found every instance full at the kind's maximum: kept pending, placed by the next scale-out or orchestrate. */
  readonly pending: readonly string[];
}

export interface UnassignResult {
  readonly removed: readonly Placement[];
  /** Not assigned anywhere (already removed, or never placed): nothing written for them. */
  readonly notAssigned: readonly string[];
}

export interface ReloadResult {
  /** Instances whose `_reload.times` was incremented, with the new value. */
  readonly reloaded: ReadonlyArray<{ readonly instanceId: string; readonly times: number }>;
  readonly notAssigned: readonly string[];
}

export interface InstanceSummary {
  readonly id: string;
  readonly used: number;
  readonly count: number;
}

export interface OrchestrateResult {
  readonly resource: string;
  readonly instances: number;
  /** Each instance's capacity (`count`): the configured number, never lowered by the spread. */
  readonly resourcePerInstance: number;
  readonly before: readonly InstanceSummary[];
  readonly after: readonly InstanceSummary[];
  /** How evenly the plan spread resources: at most this many per instance (the legacy derived number; capacity stays `resourcePerInstance`). */
  readonly spreadPerInstance: number;
  /** Pending resources placed after the rebalance. */
  readonly placedPending: number;
  /** Resources the applied plan moved. */
  readonly moved: number;
  /** The least any balanced result could have moved. */
  readonly minimumMoves: number;
  /** The plan that was applied (the last one, after any re-plans). */
  readonly plan: readonly Move[];
  /** Plans dropped because concurrent writes changed the kind under them. */
  readonly replans: number;
  /** Resources moved by dropped plans before they were dropped. */
  readonly movedBeforeReplan: number;
}

/** A heartbeat as decoded from Kafka/MQTT, already coalesced or not. */
export interface HeartbeatInput {
  readonly resource: string;
  readonly instanceId: string;
  /** Epoch ms the worker sent it (record timestamp), else when it was received. */
  readonly at: number;
  /** Extra fields of the message worth keeping (small, JSON-serialisable). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface HeartbeatRecord {
  readonly at: number;
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** What the reconcile loop last did to an instance, kept in the store (schema: stored.ts). */
export type InstanceRecord = Readonly<z.infer<typeof InstanceRecordSchema>>;

export interface Lease {
  readonly name: string;
  readonly holder: string;
  readonly expiresAt: number;
  /** How long each take or renewal lasts. */
  readonly ttlMs: number;
  /** Store version of the lease node, for release/renew by compare-and-set. */
  readonly version: number;
}

export type { InstanceState, OrchestrateOptionsInput, ScalingState };

/** An instance as the autoscaler sees it: counters only, and whether a scale-in is draining it. */
export interface ScalingInstance extends InstanceSummary {
  readonly draining: boolean;
}

export interface ScalingSnapshot {
  readonly state: ScalingState;
  readonly instances: readonly ScalingInstance[];
  /** Each instance's capacity: a scale-in never leaves fewer instances than the resources need. */
  readonly resourcePerInstance: number;
}

export interface WaveOptions {
  /** Instances whose worker serves (first heartbeat, or Running without heartbeats): only these receive moves. */
  readonly ready: ReadonlySet<string>;
  /** Most ids this wave moves. */
  readonly maxMoves: number;
  /** Asked before each commit (it may renew a lease); false stops the wave. */
  readonly shouldContinue: () => boolean | Promise<boolean>;
}

export interface WaveResult {
  readonly moved: number;
  /** The fewest moves the re-orchestration needed when this wave began. */
  readonly minimumMoves: number;
  /** Moves of the plan still to do (towards workers not ready yet, or past this wave's budget). */
  readonly remaining: number;
}

/** Per-instance CPU and memory, percent of the container request, as the last reconcile sampled them. */
export interface InstanceUsage {
  readonly cpuPercent?: number | undefined;
  readonly memoryPercent?: number | undefined;
}

/** Health of one instance as the API and dashboard show it. */
export type InstanceHealth = 'healthy' | 'stale' | 'unknown' | 'not-monitored';

export interface InstanceView {
  readonly id: string;
  readonly used: number;
  readonly count: number;
  readonly reloadTimes: number;
  readonly health: InstanceHealth;
  readonly heartbeat: { readonly at: number; readonly ageMs: number } | null;
  /** Last pod/process the reconcile loop saw for this instance. */
  readonly pod: { readonly name: string; readonly phase: string } | null;
  readonly lastAction: InstanceRecord | null;
  /** Recycles and replacements so far, a container's restartCount. */
  readonly restarts: number;
  /** The crash-loop back-off until the instance has stayed healthy for 10 min; null when there is none. */
  readonly backoff: BackoffView | null;
  /** A scale-in is emptying it: it takes no new resources and goes once empty. */
  readonly draining: boolean;
  /** As the last reconcile run sampled it; null when not measured. */
  readonly usage: InstanceUsage | null;
}

/** An instance's crash-loop back-off as the API and dashboard show it. */
export interface BackoffView {
  /** Restarts in a row without staying healthy: the wait doubled with each. */
  readonly streak: number;
  readonly delayMs: number;
  /** No recycle or replacement before this (epoch ms). */
  readonly until: number;
  /** `until` is ahead and the instance not healthy since its restart: a silent or dead pod waits (CrashLoopBackOff). */
  readonly waiting: boolean;
  /** Healthy without a break since then; null when not healthy since the last restart. */
  readonly healthySince: number | null;
}

/** The autoscaler as the API and dashboard show it. */
export interface ScalingView {
  readonly enabled: boolean;
  /** Instances not draining. */
  readonly current: number;
  /** What the last run decided (equal to current when it held). */
  readonly desired: number;
  readonly draining: readonly string[];
  /** Opened by a scale-out, worker not serving yet: placement avoids them and moves wait for them. */
  readonly warming: readonly string[];
  readonly pending: number;
  readonly lastDecision: {
    readonly at: number;
    readonly from: number;
    readonly to: number;
    readonly reason: string;
  } | null;
  /** The last run's reasoning, scale or not. */
  readonly lastRun: { readonly at: number; readonly reason: string } | null;
  /** The re-orchestration after a scale, while moves are owed. */
  readonly moves: { readonly since: number; readonly moved: number; readonly remaining: number } | null;
}

/** Which of an instance's resource ids to list: `limit` of them after `cursor`, those containing `query` alone. */
export interface ResourcePageRequest {
  readonly limit: number;
  /** `nextCursor` of the previous page; absent: from the first id. */
  readonly cursor?: string | undefined;
  /** Keeps the ids that contain it, ignoring case. */
  readonly query?: string | undefined;
}

/** A page of an instance's resource ids, ascending in JavaScript string order. */
export interface ResourceIdPage {
  /** Every id the instance holds (its `used`). */
  readonly total: number;
  /** Of them, those matching the query (all of them without one). */
  readonly matched: number;
  readonly query: string | null;
  readonly limit: number;
  readonly ids: readonly string[];
  /** Asks for the page after this one; null on the last page. */
  readonly nextCursor: string | null;
}

/** GET /v1/api/orchestrations/{resource}/instances/{instanceId}: one instance and a page of its resource ids. */
export interface InstanceDetail {
  readonly resource: string;
  readonly instanceName: string;
  readonly instance: {
    readonly id: string;
    readonly used: number;
    readonly count: number;
    readonly reloadTimes: number;
    readonly draining: boolean;
    readonly health: InstanceHealth;
  };
  readonly pod: { readonly name: string; readonly phase: string } | null;
  readonly heartbeat: (HeartbeatRecord & { readonly ageMs: number }) | null;
  /** What reconcile last did to it. */
  readonly record: InstanceRecord | null;
  readonly resources: ResourceIdPage;
  readonly generatedAt: number;
}

/** GET /v1/api/orchestrations/{resource}. */
export interface OrchestrationView {
  readonly resource: string;
  readonly instanceName: string;
  readonly heartbeat: boolean;
  readonly heartbeatTimeoutMs: number;
  readonly instances: readonly InstanceView[];
  readonly totals: {
    readonly instances: number;
    readonly resources: number;
    readonly capacity: number;
    readonly pending: number;
  };
  /** The kind's limits: new instances only below `maxInstances`, each holding up to `resourcePerInstance`. */
  readonly limits: { readonly maxInstances: number; readonly resourcePerInstance: number };
  /** The first pending resource ids (at most 100), for the dashboard. */
  readonly pending: readonly string[];
  readonly scaling: ScalingView;
  /** The last catalog pass of the kind, and a pass asked for and not yet run. */
  readonly catalog: { readonly lastPass: CatalogPass | null; readonly requestedAt: number | null };
  readonly generatedAt: number;
}

/** Sees an orchestrate's plan (instances now, instances planned) before it writes anything; throws to refuse it. */
export type OrchestrateGuard = (plan: { readonly current: number; readonly instances: number }) => Promise<void>;

/** Placement: what cm/notify and the resources API do. */
export interface PlacementUseCases {
  assign(resource: string, ids: readonly string[]): Promise<AssignResult>;
  unassign(resource: string, ids: readonly string[]): Promise<UnassignResult>;
  reload(resource: string, ids: readonly string[]): Promise<ReloadResult>;
  /** `guard` sees each plan before anything is written, and refuses it by throwing. */
  orchestrate(
    resource: string,
    input: OrchestrateOptionsInput,
    holder: string,
    guard?: OrchestrateGuard,
  ): Promise<OrchestrateResult>;
  /** Places what is pending where there is room now (reconcile runs it); returns what was placed and what still waits. */
  placePending(resource: string): Promise<AssignResult>;
}

/** Reads for the API, the dashboard and reconcile. */
export interface ViewUseCases {
  read(resource: string): Promise<InstanceState[]>;
  instanceIds(resource: string): Promise<string[]>;
  locate(resource: string, id: string): Promise<string | undefined>;
  describe(resource: string): Promise<OrchestrationView>;
  /** Resources waiting for room because the kind is at its maximum. */
  pendingIds(resource: string): Promise<string[]>;
  /** One instance with a page of its resource ids; undefined when the kind has no such instance. */
  describeInstance(
    resource: string,
    instanceId: string,
    page: ResourcePageRequest,
  ): Promise<InstanceDetail | undefined>;
}

/** What the heartbeat handler and reconcile keep about each instance. */
export interface InstanceStateUseCases {
  recordHeartbeats(beats: readonly HeartbeatInput[]): Promise<{ writes: number; instances: number }>;
  heartbeats(resource: string): Promise<Map<string, HeartbeatRecord>>;
  records(resource: string): Promise<Map<string, InstanceRecord>>;
  writeRecord(resource: string, instanceId: string, record: InstanceRecord): Promise<void>;
}

/** Carrying out elastic scaling (decided by reconcile). */
export interface ScalingUseCases {
  scalingSnapshot(resource: string): Promise<ScalingSnapshot>;
  saveScalingState(resource: string, state: ScalingState): Promise<void>;
  openInstances(resource: string, count: number): Promise<string[]>;
  setDraining(resource: string, ids: readonly string[], draining: boolean): Promise<void>;
  rebalanceWave(resource: string, options: WaveOptions): Promise<WaveResult>;
  closeDrained(resource: string, id: string): Promise<boolean>;
}

/** What a catalog pass needs of the platform's catalog (lib/catalog/port.ts). */
export interface CatalogReader {
  /** Up to `limit` ids greater than `after`, ascending in JavaScript string order. */
  page(resource: string, after: string | undefined, limit: number): Promise<string[]>;
  /** Which of `ids` exist now. */
  existing(resource: string, ids: readonly string[]): Promise<Set<string>>;
}

/** The result of one catalog pass over a kind (schema: stored.ts). */
export type CatalogPass = Readonly<z.infer<typeof CatalogPassSchema>>;

/** Anti-entropy against the platform's catalog. */
export interface CatalogUseCases {
  catalogPass(
    resource: string,
    catalog: CatalogReader,
    options: { readonly holder: string; readonly pageSize?: number; readonly maxRemoveFraction?: number },
  ): Promise<CatalogPass>;
  lastCatalogPass(resource: string): Promise<CatalogPass | undefined>;
  requestCatalogPass(resource: string, reason: string): Promise<{ at: number }>;
  catalogPassDue(resource: string, everyMs: number): Promise<{ due: boolean; why: string }>;
}

export interface LeaseUseCases {
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease>;
  renewLease(lease: Lease): Promise<Lease>;
  releaseLease(lease: Lease): Promise<void>;
}

/** The whole core, as the App hands it out. */
export interface Orchestration
  extends PlacementUseCases,
    ViewUseCases,
    InstanceStateUseCases,
    LeaseUseCases,
    ScalingUseCases,
    CatalogUseCases {
  readonly kinds: readonly KindConfig[];
  readonly layout: Layout;
  /** The configured kind, or UnknownResourceError. */
  kind(resource: string): KindConfig;
  ping(): Promise<void>;
}
