/**
 * What every Lambda entry point in functions/ shares: the container's App,
 * created on first use, one rule for `sls invoke local`, and the function's
 * metrics, written when the invocation ends.
 */
import { createApp, sharedApp, type App, type AppParts } from '../app.js';
import { Metrics } from '../metrics.js';

/** Alerts are counted by type on stdout, as EMF: CloudWatch turns the lines into the metric the alarms watch. */
const ALERT_METRICS = new Metrics();

/**
 * Runs `work` with the container's App, built with the entry point's `parts`
 * (reconcile passes its instance runtime, alerts its Kafka forwarder; the
 * others need neither, which keeps those clients out of their bundles). A Lambda
 * container is frozen between invocations and keeps its App (and its
 * ZooKeeper session) warm; `sls invoke local` (which sets IS_LOCAL) runs a
 * single invocation per process, so there the invocation gets an App of its
 * own, closed afterwards, or the open session would keep the process alive.
 */
export async function withSharedApp<T>(work: (app: App) => Promise<T>, given: AppParts = {}): Promise<T> {
  const parts: AppParts = { alertMetrics: ALERT_METRICS, ...given };
  if (process.env.IS_LOCAL !== 'true') return work(await sharedApp(parts));
  const app = await createApp(process.env, parts);
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

/** The function's metrics for one invocation, written (EMF lines on stdout) when it ends, however it ends. */
export async function withMetrics<T>(fn: string, work: (metrics: Metrics) => Promise<T>): Promise<T> {
  const metrics = new Metrics('IotaOrchestrator', { Function: fn });
  try {
    return await work(metrics);
  } finally {
    metrics.flush();
  }
}
