/**
 * `npm run bench [-- name ...]`: runs the benchmarks and prints their figures.
 * With no names, runs them all. Benchmarks print numbers; they never fail a build.
 */
import { startZooKeeper, type RunningZooKeeper } from '../test/support/zookeeper-server.js';

// Figures, not per-operation logs: quiet unless asked (modules below are loaded after this line).
process.env.LOG_LEVEL ??= 'warn';

const log = (line: string): void => console.log(line);

let zk: RunningZooKeeper | undefined;
const zooKeeper = async (): Promise<string> => (zk ??= await startZooKeeper()).connect;

const BENCHES: Record<string, { about: string; run: () => Promise<void> }> = {
  rebalance: {
    about: 'minimal-movement rebalance vs the legacy method, 500k resources',
    run: async () => (await import('./rebalance.js')).benchRebalance(log),
  },
  store: {
    about: 'placements/s through the store port vs raw setData; locate latency at 500k (ZooKeeper)',
    run: async () => {
      const { benchPlacementThroughput, benchLocateLatency } = await import('./store.js');
      const connect = await zooKeeper();
      await benchPlacementThroughput(connect, log);
      await benchLocateLatency(connect, log);
    },
  },
  'store-faults': {
    about: 'how long a store takes to give up: SQLite busy timeout, unreachable and silent ZooKeeper',
    run: async () => (await import('./store-faults.js')).benchStoreFaults(log),
  },
  notify: {
    about:
      'cm/notify creates/s through the batch handler (SQS batches of 100), 1 consumer and 8 processes, vs raw setData (ZooKeeper)',
    run: async () => (await import('./notify.js')).benchNotify(await zooKeeper(), log),
  },
  handlers: {
    about: 'notify placements/s and a 10,000-record heartbeat batch (ZooKeeper)',
    run: async () => (await import('./handlers.js')).benchHandlers(await zooKeeper(), log),
  },
  reconcile: {
    about: 'reconcile decision and a full run against the Kubernetes simulator',
    run: async () => (await import('./reconcile.js')).benchReconcile(log),
  },
  'k8s-client': {
    about: 'bundle size and cold import of the Kubernetes client options',
    run: async () => (await import('./k8s-client.js')).benchK8sClient(log),
  },
  bundles: {
    about: 'Lambda bundle size and cold require per function, built with the options of serverless.yml',
    run: async () => (await import('./bundles.js')).benchBundles(log),
  },
  recovery: {
    about: 'kill -9 of a local worker to its replacement heartbeat, 10 kills',
    run: async () => (await import('./recovery.js')).benchRecovery(log),
  },
  catalog: {
    about: 'a catalog anti-entropy pass at 500k resources, 1% drift each way (its own ZooKeeper, PostgreSQL)',
    run: async () => (await import('./catalog.js')).benchCatalog(log),
  },
  scaling: {
    about: 'an hour of load through decideScale + rebalance vs the HPA + legacy orchestrate',
    run: async () => (await import('./scaling.js')).benchScaling(log),
  },
};

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  log('usage: npm run bench [-- <name> ...]\n');
  for (const [name, { about }] of Object.entries(BENCHES)) log(`  ${name.padEnd(11)} ${about}`);
  process.exit(0);
}
const unknown = args.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
try {
  for (const name of args.length > 0 ? args : Object.keys(BENCHES)) {
    log(`\n# ${name}: ${BENCHES[name]!.about}`);
    const started = performance.now();
    await BENCHES[name]!.run();
    log(`(${name} took ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
} finally {
  await zk?.stop();
}
