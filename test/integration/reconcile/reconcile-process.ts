/**
 * One reconcile run in its own OS process, as a second Lambda container would
 * do it: its own store connection and its own Kubernetes client. Started by
 * concurrency.test.ts. Env: the store variables, SIM_URL, SIM_TOKEN, SIM_NOW
 * (the simulator's clock) and START_AT (epoch ms to start at, so that several
 * processes start their run together). Prints the report as JSON.
 */
import { createApp } from '../../../lib/app.js';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile } from '../../../lib/reconcile/reconcile.js';
import { kubernetesRuntimeFor, silentLogger } from './runtime.js';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const app = await createApp(process.env, { runtime: kubernetesRuntimeFor(required('SIM_URL'), required('SIM_TOKEN')), logger: silentLogger });
const now = Number(required('SIM_NOW'));
const wait = Number(required('START_AT')) - Date.now();
if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
try {
  const report = await reconcile(app, { now: () => now, alerts: new MemoryAlertPublisher(silentLogger), metrics: new Metrics('test', {}, () => undefined) });
  process.stdout.write(JSON.stringify(report) + '\n');
} finally {
  await app.close();
}
