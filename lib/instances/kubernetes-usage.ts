/**
 * Pod usage on Kubernetes, from two lists of one kind: metrics.k8s.io PodMetrics (what the
 * containers use) and core v1 Pods (what they request, and whether the pod still runs).
 * Pure, so the rules below are tested with object literals.
 *
 * - Only Running pods not being deleted: metrics-server keeps reporting a terminating pod
 *   while its containers run, and such a pod is on its way out.
 * - Usage is summed over the containers metrics-server reports, requests over the containers
 *   of the pod spec. A percentage is left out when any container lacks that request, as the
 *   HorizontalPodAutoscaler leaves utilisation undefined then.
 */
import * as z from '../zod.js';
import type { PodUsage } from './port.js';
import { parseCpuMillis, parseMemoryBytes, percentOf, tidy } from './quantity.js';

const MetadataSchema = z.looseObject({
  name: z.string(),
  labels: z.optional(z.record(z.string(), z.string())),
  deletionTimestamp: z.nullish(z.string()),
});

/** The pod spec fields usage needs; the pod list's schema includes it. */
export const PodRequestsSchema = z.looseObject({
  containers: z.array(
    z.looseObject({ resources: z.optional(z.looseObject({ requests: z.optional(z.record(z.string(), z.string())) })) }),
  ),
});

export const PodMetricsListSchema = z.looseObject({
  items: z.array(
    z.looseObject({
      metadata: MetadataSchema,
      containers: z.array(
        z.looseObject({ name: z.string(), usage: z.looseObject({ cpu: z.string(), memory: z.string() }) }),
      ),
    }),
  ),
});
export type PodMetricsList = z.infer<typeof PodMetricsListSchema>;

/** A listed pod, as far as usage reads it. */
export interface ListedPod {
  readonly metadata: z.infer<typeof MetadataSchema>;
  readonly spec?: z.infer<typeof PodRequestsSchema> | undefined;
  readonly status?: { readonly phase?: string | undefined } | undefined;
}

/** The pod's request for a resource summed over its containers; undefined when one of them has none. */
function podRequest(
  pod: ListedPod,
  resource: 'cpu' | 'memory',
  parse: (quantity: string) => number,
): number | undefined {
  const containers = pod.spec?.containers ?? [];
  let total = 0;
  for (const container of containers) {
    const quantity = container.resources?.requests?.[resource];
    if (quantity === undefined) return undefined;
    total += parse(quantity);
  }
  return containers.length > 0 ? total : undefined;
}

/** Joins metrics and pods by name. Throws on a quantity the API server would not have sent. */
export function usageOfPods(metrics: PodMetricsList, pods: readonly ListedPod[]): PodUsage[] {
  const live = new Map(
    pods
      .filter((pod) => pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp)
      .map((pod) => [pod.metadata.name, pod]),
  );
  return metrics.items.flatMap((item) => {
    const pod = live.get(item.metadata.name);
    const instanceId = pod?.metadata.labels?.instanceId;
    if (!pod || instanceId === undefined) return [];
    let cpu = 0;
    let memoryBytes = 0;
    for (const container of item.containers) {
      cpu += parseCpuMillis(container.usage.cpu);
      memoryBytes += parseMemoryBytes(container.usage.memory);
    }
    const cpuMillis = tidy(cpu);
    const cpuPercent = percentOf(cpuMillis, podRequest(pod, 'cpu', parseCpuMillis));
    const memoryPercent = percentOf(memoryBytes, podRequest(pod, 'memory', parseMemoryBytes));
    const usage: PodUsage = {
      name: item.metadata.name,
      instanceId,
      cpuMillis,
      memoryBytes,
      ...(cpuPercent !== undefined ? { cpuPercent } : {}),
      ...(memoryPercent !== undefined ? { memoryPercent } : {}),
    };
    return [usage];
  });
}
