import type { KindConfig } from '../config/kinds.js';

/**
 * The instance-runtime port: where worker instances run. Kubernetes pods in
 * production, child processes locally. Pods of an instance are found by label
 * (`resource`, `instanceId`), never by name: each incarnation has its own name
 * so a replacement can start while the previous pod is still terminating.
 */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodInfo {
  readonly name: string;
  readonly resource: string;
  readonly instanceId: string;
  readonly phase: PodPhase;
  /** Epoch ms the pod started (status.startTime, else creationTimestamp). */
  readonly startedAt: number | undefined;
  /** Set once deletion began; such a pod is on its way out and is neither counted nor deleted again. */
  readonly terminating: boolean;
}

export interface PodUsage {
  readonly name: string;
  readonly instanceId: string;
  /** CPU in millicores. */
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

export interface PodSpec {
  readonly kind: KindConfig;
  readonly instanceId: string;
  /** Unique per incarnation, see `podName`. */
  readonly name: string;
}

/** A runtime call failed for one pod; recorded and retried next run. */
export class InstanceRuntimeError extends Error {
  override readonly name = 'InstanceRuntimeError';
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface InstanceRuntime {
  readonly description: string;
  /** Creates the pod; 'exists' when a pod of that name is already there (idempotent retry). */
  create(spec: PodSpec): Promise<'created' | 'exists'>;
  /** Begins deletion; 'absent' when there is no such pod. */
  delete(kind: KindConfig, name: string): Promise<'deleted' | 'absent'>;
  /** Every pod labelled for this kind, terminating ones included. One call per kind. */
  list(kind: KindConfig): Promise<PodInfo[]>;
  /** CPU/memory of the kind's running pods (metrics.k8s.io); [] when metrics are unavailable. */
  usage(kind: KindConfig): Promise<PodUsage[]>;
  close(): Promise<void>;
}

/** `<instanceName>-<instanceId>-g<generation>`: a DNS-1123 name unique per incarnation. */
export const podName = (kind: KindConfig, instanceId: string, generation: number): string =>
  `${kind.instanceName}-${instanceId}-g${generation}`;
