/**
 * One client of the multi-process throughput benchmark, as a Lambda would be:
 * its own process, its own ZooKeeper session. Waits for a common start time,
 * runs for the duration and prints how many writes it completed.
 *
 * env: BENCH_MODE=port|raw, ZK_CONNECT, ZK_ROOT, ZK_STATE_ROOT, BENCH_START_AT (epoch ms),
 *      BENCH_DURATION_MS, BENCH_CLIENT (index), BENCH_PAYLOAD_BYTES (raw only)
 */
import zookeeper from 'node-zookeeper-client';
import { DEFAULT_KINDS } from '../../lib/config/kinds.js';
import { silentLogger } from '../../lib/log.js';
import { createOrchestration } from '../../lib/orchestration/index.js';
import { ZooKeeperStore } from '../../lib/store/zookeeper.js';

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
