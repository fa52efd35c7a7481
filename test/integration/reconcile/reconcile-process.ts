/**
 * One reconcile run in its own OS process, as a second Lambda container would
 * do it: its own store connection and its own Kubernetes client. Started by
 * concurrency.test.ts. Env: the store variables, SIM_URL, SIM_TOKEN and
 * SIM_NOW (the simulator's clock). Once connected it prints "ready" and waits
 * for a "go" line on stdin, so that several processes start their run
 * together; then it prints the report as JSON.
 */
import { createInterface } from 'node:readline';
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

const app = await createApp(process.env, {
  runtime: kubernetesRuntimeFor(required('SIM_URL'), required('SIM_TOKEN')),
  logger: silentLogger,
});
const now = Number(required('SIM_NOW'));
const lines = createInterface({ input: process.stdin });
const told = new Promise<string | undefined>((resolve) => {
  lines.once('line', resolve);
  lines.once('close', () => resolve(undefined));
});
process.stdout.write('ready\n');
const word = await told;
lines.close();
process.stdin.destroy();
if (word !== 'go') {
  await app.close();
  throw new Error(`expected "go" on stdin, got ${word === undefined ? 'end of input' : JSON.stringify(word)}`);
}
try {
  const report = await reconcile(app, {
    now: () => now,
    alerts: new MemoryAlertPublisher(silentLogger),
    metrics: new Metrics('test', {}, () => undefined),
  });
  process.stdout.write(JSON.stringify(report) + '\n');
} finally {
  await app.close();
}
