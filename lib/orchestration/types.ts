/**
 * What the use cases offer the handlers (functions/), the local runtime and the
 * reconcile loop. Implemented by `Orchestrator` in ./orchestrator.ts on top of
 * the store port; every method is safe to call twice and from many processes.
 */
import type { OrchestrateOptionsInput } from '../domain/options.js';
import type { InstanceState, Move } from '../domain/orchestration.js';

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
  readonly resourcePerInstance: number;
  readonly before: readonly InstanceSummary[];
  readonly after: readonly InstanceSummary[];
  /** Resources that changed instance. */
  readonly moved: number;
  /** The least any balanced result could have moved. */
  readonly minimumMoves: number;
  readonly plan: readonly Move[];
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

/** What the reconcile loop last did to an instance, kept in the store. */
export interface InstanceRecord {
  readonly action: 'created' | 'recycled' | 'replaced' | 'none' | 'error';
  readonly reason: string;
  readonly pod?: string | undefined;
  /** Incarnation counter used to name pods uniquely. */
  readonly generation: number;
  readonly at: number;
  readonly error?: string | undefined;
  /** Phase of that pod when last observed. */
  readonly phase?: string | undefined;
}

export interface Lease {
  readonly name: string;
  readonly holder: string;
  readonly expiresAt: number;
  /** Store version of the lease node, for release/renew by compare-and-set. */
  readonly version: number;
}

export type { InstanceState, OrchestrateOptionsInput };

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
}

/** GET /v1/api/orchestrations/{resource}. */
export interface OrchestrationView {
  readonly resource: string;
  readonly instanceName: string;
  readonly heartbeat: boolean;
  readonly heartbeatTimeoutMs: number;
  readonly instances: readonly InstanceView[];
  readonly totals: { readonly instances: number; readonly resources: number; readonly capacity: number };
  readonly generatedAt: number;
}
