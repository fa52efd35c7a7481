/**
 * One client of the multi-process throughput benchmark, as a Lambda would be:
 * its own process, its own ZooKeeper session. Waits for a common start time,
 * runs for the duration and prints how many writes it completed.
 *
 * env: BENCH_MODE=port|notify|raw, ZK_CONNECT, ZK_ROOT, ZK_STATE_ROOT, BENCH_START_AT (epoch ms),
 *      BENCH_DURATION_MS, BENCH_CLIENT (index), BENCH_PAYLOAD_BYTES (raw only),
 *      BENCH_BATCH (notify only: cm/notify creates per batch, default 100)
 */
import zookeeper from 'node-zookeeper-client';
import { DEFAULT_KINDS } from '../../lib/config/kinds.js';
import { silentLogger } from '../../lib/log.js';
import { createOrchestration } from '../../lib/orchestration/index.js';
import { ZooKeeperStore } from '../../lib/store/zookeeper.js';
import { createApp } from '../../lib/app.js';
import { handleNotifyBatch } from '../../lib/handlers/notify-batch.js';
import { createBatch } from './notify-batches.js';

const env = process.env;
const client = Number(env.BENCH_CLIENT ?? 0);
const startAt = Number(env.BENCH_START_AT);
const durationMs = Number(env.BENCH_DURATION_MS ?? 3000);
const waitForStart = () => new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
let writes = 0;

if (env.BENCH_MODE === 'port') {
  const store = await ZooKeeperStore.connect({ connect: env.ZK_CONNECT! });
  const orchestrator = createOrchestration({
    logger: silentLogger(),
    store,
    kinds: DEFAULT_KINDS,
    root: env.ZK_ROOT,
    stateRoot: env.ZK_STATE_ROOT,
  });
  await orchestrator.read('Thing');
  await waitForStart();
  const deadline = Date.now() + durationMs;
  for (let n = 0; Date.now() < deadline; n++) {
    const result = await orchestrator.assign('Thing', [`mp-${client}-${n}`]);
    writes += result.assigned.length;
  }
  await store.close();
} else if (env.BENCH_MODE === 'notify') {
  // A notify Lambda container: SQS batches of creates through the batch handler, on its own session.
  const app = await createApp(env, { kinds: DEFAULT_KINDS, logger: silentLogger() });
  await app.orchestrator.read('Thing');
  const batch = Number(env.BENCH_BATCH ?? 100);
  await waitForStart();
  const deadline = Date.now() + durationMs;
  for (let n = 0; Date.now() < deadline; n++) {
    const result = await handleNotifyBatch(app, createBatch(`np-${client}-${n}`, batch));
    writes += result.kinds.reduce((sum, kind) => sum + kind.assigned.length, 0);
  }
  await app.close();
} else {
  const zk = zookeeper.createClient(env.ZK_CONNECT!);
  await new Promise<void>((resolve) => {
    zk.once('connected', () => resolve());
    zk.connect();
  });
  const path = `${env.ZK_ROOT}-raw-${client}`;
  const data = Buffer.from('x'.repeat(Number(env.BENCH_PAYLOAD_BYTES ?? 256)));
  await new Promise<void>((resolve) => zk.create(path, data, () => resolve()));
  await waitForStart();
  const deadline = Date.now() + durationMs;
  while (Date.now() < deadline) {
    await new Promise<void>((resolve, reject) =>
      zk.setData(path, data, -1, (error) => (error ? reject(error) : resolve())),
    );
    writes++;
  }
  zk.close();
}
process.stdout.write(`${writes}\n`);
