/**
 * The instance runtime the environment asks for. Only the entry points that
 * drive instances import this module (functions/reconcile.ts, the local
 * system): it is what brings the Kubernetes adapter, its EKS authentication
 * and the compiled pod templates into a bundle. Lambda bundles
 * are CommonJS, where esbuild inlines a dynamic `import()` too, so keeping
 * them out of the other functions' bundles is a matter of the import graph:
 * the App never imports this module; it is handed a runtime (AppParts.runtime).
 */
import type { InstanceRuntime } from './port.js';

/** What `sls invoke local -f reconcile` says instead of starting or stopping local workers. */
const INVOKE_LOCAL_WORKERS_HINT =
  'sls invoke local starts and stops no local worker processes unless INVOKE_LOCAL_WORKERS=1 (docs/invoke-local.md)';

/**
 * Kubernetes when a cluster is configured (`EKS_CLUSTER_NAME` or `K8S_SERVER`),
 * else local processes of the reference worker. Each is imported on first use,
 * so a process that runs one never loads (or, in a bundle, initializes) the other.
 *
 * Under `sls invoke local` (IS_LOCAL) the local processes are only looked at:
 * each invocation is a short process of its own, and workers it started would
 * outlive it unnoticed. INVOKE_LOCAL_WORKERS=1 asks for them.
 */
export async function runtimeFromEnv(env: NodeJS.ProcessEnv): Promise<InstanceRuntime> {
  const wanted = env.ORCH_RUNTIME ?? (env.EKS_CLUSTER_NAME || env.K8S_SERVER ? 'kubernetes' : 'processes');
  if (wanted === 'kubernetes') {
    const { kubernetesRuntimeFromEnv } = await import('./kubernetes.js');
    return kubernetesRuntimeFromEnv(env);
  }
  if (wanted === 'processes') {
    const { processRuntimeFromEnv } = await import('../local/process-runtime-config.js');
    const processes = await processRuntimeFromEnv(env);
    if (env.IS_LOCAL !== 'true' || env.INVOKE_LOCAL_WORKERS === '1') return processes;
    const { ReadOnlyRuntime } = await import('./read-only-runtime.js');
    return new ReadOnlyRuntime(processes, INVOKE_LOCAL_WORKERS_HINT);
  }
  throw new Error(`ORCH_RUNTIME must be "kubernetes" or "processes", got ${JSON.stringify(wanted)}`);
}
