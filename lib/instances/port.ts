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

/**
 * What one running, non-terminating pod uses, summed over its containers. The percentages
 * are of the pod's requests (summed over its containers), the HorizontalPodAutoscaler's
 * utilisation; each is absent when the pod has no request for that resource.
 */
export interface PodUsage {
  readonly name: string;
  readonly instanceId: string;
  /** CPU in millicores (fractional). */
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** cpuMillis as a percentage of the CPU request: 250m used of a 250m request is 100. */
  readonly cpuPercent?: number;
  /** memoryBytes as a percentage of the memory request. */
  readonly memoryPercent?: number;
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

/** A cap on the pods a runtime runs at once, every kind together (the local runtime's process cap). */
export interface PodLimit {
  readonly max: number;
  /** The setting that raises it, named in refusals. */
  readonly setting: string;
}

/** The runtime already runs as many pods as its limit allows: the create is refused until one goes. */
export class PodLimitError extends InstanceRuntimeError {
  constructor(
    readonly limit: PodLimit,
    /** Pods running when the create was refused. */
    readonly running: number,
    pod: string,
  ) {
    super(`create ${pod}: ${running} pods already run, the limit (${limit.setting}=${limit.max})`, undefined);
  }
}

export interface InstanceRuntime {
  readonly description: string;
  /** Absent: the runtime sets no limit of its own (Kubernetes has quotas and the scheduler for that). */
  readonly podLimit?: PodLimit;
  /** Creates the pod; 'exists' when a pod of that name is already there (idempotent retry). */
  create(spec: PodSpec): Promise<'created' | 'exists'>;
  /** Begins deletion; 'absent' when there is no such pod. */
  delete(kind: KindConfig, name: string): Promise<'deleted' | 'absent'>;
  /** Every pod labelled for this kind, terminating ones included. One call per kind. */
  list(kind: KindConfig): Promise<PodInfo[]>;
  /**
   * CPU/memory of the kind's Running, non-terminating pods, one call per kind (never one per
   * pod); [] when usage cannot be measured (no metrics API, no /proc). A pod without a
   * measurement yet is left out.
   */
  usage(kind: KindConfig): Promise<PodUsage[]>;
  close(): Promise<void>;
}

/** `<instanceName>-<instanceId>-g<generation>`: a DNS-1123 name unique per incarnation. */
export const podName = (kind: KindConfig, instanceId: string, generation: number): string =>
  `${kind.instanceName}-${instanceId}-g${generation}`;
