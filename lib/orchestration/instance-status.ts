/**
 * How an instance's health and pod read in the API and the dashboard, from
 * what the store keeps: its last heartbeat and what reconcile last saw. One
 * home for both the kind's view (views.ts) and one instance's (instance-view.ts).
 */
import type { HeartbeatRecord, InstanceHealth, InstanceRecord } from './types.js';

/** Healthy while the last heartbeat is within the timeout; kinds without heartbeats are not monitored. */
export function healthOf(monitored: boolean, heartbeatAgeMs: number | undefined, timeoutMs: number): InstanceHealth {
  if (!monitored) return 'not-monitored';
  if (heartbeatAgeMs === undefined) return 'unknown';
  return heartbeatAgeMs <= timeoutMs ? 'healthy' : 'stale';
}

/**
 * The pod reconcile last saw, with its phase. Reconcile observes a phase once
 * per run, so a pod it created reads Pending until the next run although its
 * worker already heartbeats: a heartbeat sent after that record, by that pod
 * when the beat names one (`podName`), is a running worker, and the pod reads
 * Running from it on.
 */
export function observedPod(
  record: InstanceRecord | undefined,
  beat: HeartbeatRecord | undefined,
): { readonly name: string; readonly phase: string } | null {
  if (!record?.pod) return null;
  const phase = record.phase ?? 'Unknown';
  const beatPod = beat?.extra?.podName;
  const fromThisPod = beat !== undefined && beat.at >= record.at && (beatPod === undefined || beatPod === record.pod);
  return { name: record.pod, phase: phase === 'Pending' && fromThisPod ? 'Running' : phase };
}
