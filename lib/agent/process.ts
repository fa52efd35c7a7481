/**
 * The reference worker as a process (bin/iota-worker.ts): settings from the
 * environment, the store from `openStore`, heartbeats over MQTT or Kafka,
 * a clean exit on SIGTERM/SIGINT.
 *
 * Exit codes (docs/worker-contract.md): 0 after a requested stop, 2 for a
 * configuration error, 1 when the store cannot be read at start-up. A
 * non-zero exit shows as a failed pod/process and the orchestrator replaces it.
 */
import { createLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { WorkerConfigError, workerSettingsFromEnv } from './config.js';
import { openHeartbeatSender } from './heartbeat-sender.js';
import { startWorker } from './worker.js';

export const EXIT = { stopped: 0, startFailed: 1, badConfig: 2 } as const;

export async function runWorkerProcess(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let settings;
  try {
    settings = workerSettingsFromEnv(env);
  } catch (error) {
    if (!(error instanceof WorkerConfigError)) throw error;
    process.stderr.write(`iota-worker: ${error.message}\n`);
    return EXIT.badConfig;
  }
  const log = createLogger({ env, bindings: { component: 'worker', podName: settings.podName } });
  // Listening from the start, so a stop requested during start-up still ends in a clean exit.
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    // `on`, not `once`: a second signal during the graceful stop must not kill the process half-way.
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });

  let store;
  try {
    store = await openStore(env);
  } catch (error) {
    log.error({ err: error }, 'cannot open the store');
    return EXIT.startFailed;
  }
  const heartbeat = settings.heartbeatIntervalMs > 0 ? openHeartbeatSender(settings.heartbeat) : undefined;
  let worker;
  try {
    worker = await startWorker({ ...settings, store, heartbeat, logger: log });
  } catch (error) {
    log.error({ err: error }, 'cannot read the resource list at start-up');
    await heartbeat?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    return EXIT.startFailed;
  }
  log.info(
    {
      store: store.description,
      heartbeat: heartbeat?.description ?? 'off',
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      pid: process.pid,
    },
    'worker started',
  );

  // The store's polling and the heartbeat timer may both be absent or unref'd: hold the process open until told to stop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const signal = await stopRequested;
  clearInterval(keepAlive);
  log.info({ signal }, 'stopping');
  await worker.stop();
  await store.close();
  return EXIT.stopped;
}
