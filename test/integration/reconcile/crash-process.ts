/**
 * One reconcile run in its own OS process that kills itself (SIGKILL, no
 * clean-up, as a Lambda timeout or an OOM would) right after its Nth store
 * commit. Started by scaling-crash.test.ts. Env: the store variables,
 * ORCH_KINDS, SIM_URL, SIM_TOKEN, SIM_NOW (the simulator's clock) and
 * CRASH_AFTER_COMMITS. Prints the report as JSON if it lives to the end.
 */
import { createApp } from '../../../lib/app.js';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile } from '../../../lib/reconcile/reconcile.js';
import { openStore } from '../../../lib/store/open.js';
import type { NodeStore, WriteOp } from '../../../lib/store/port.js';
import { kubernetesRuntimeFor, silentLogger } from './runtime.js';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const crashAfter = Number(required('CRASH_AFTER_COMMITS'));
const store = await openStore(process.env);
let commits = 0;
const crashing = new Proxy(store, {
  get(target, property, receiver) {
    if (property === 'commit')
      return async (ops: readonly WriteOp[]): Promise<void> => {
        await target.commit(ops);
        commits += 1;
        if (commits >= crashAfter) process.kill(process.pid, 'SIGKILL');
      };
    const value: unknown = Reflect.get(target, property, receiver);
    return typeof value === 'function' ? value.bind(target) : value;
  },
}) as NodeStore;

const app = await createApp(process.env, {
  store: crashing,
  runtime: kubernetesRuntimeFor(required('SIM_URL'), required('SIM_TOKEN')),
  logger: silentLogger,
});
const now = Number(required('SIM_NOW'));
try {
  const report = await reconcile(app, {
    now: () => now,
    alerts: new MemoryAlertPublisher(silentLogger),
    metrics: new Metrics('test', {}, () => undefined),
  });
  process.stdout.write(`${JSON.stringify({ commits, status: report.status })}\n`);
} finally {
  await app.close();
}
