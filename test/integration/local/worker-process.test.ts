/**
 * bin/iota-worker.ts as the process runtime starts it: environment in,
 * heartbeats out on a real MQTT broker, exit codes as the worker contract
 * states them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../../lib/local/broker.js';
import { referenceWorkerCommand } from '../../../lib/local/process-runtime-config.js';
import { silentLogger } from '../../../lib/log.js';
import { createOrchestration, type Orchestration } from '../../../lib/orchestration/index.js';
import { openStore } from '../../../lib/store/open.js';
import type { NodeStore } from '../../../lib/store/port.js';
import { waitFor } from './harness.js';

interface Spawned {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function spawnWorker(env: Record<string, string>): Spawned {
  const { command, args } = referenceWorkerCommand();
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** Waits until the worker has printed `text`, or has ended; a timeout quotes everything it printed by then. */
async function waitForOutput(worker: Spawned, text: string, what: string): Promise<void> {
  const ended = (): boolean => worker.child.exitCode !== null || worker.child.signalCode !== null;
  try {
    await waitFor(() => (worker.output().includes(text) || ended() ? true : undefined), what, 20_000);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; worker output:\n${worker.output()}`);
  }
}

describe('the reference worker process', () => {
  let dataDir: string;
  let broker: EmbeddedBroker;
  let store: NodeStore;
  let orchestration: Orchestration;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'iota-worker-proc-'));
    broker = await startEmbeddedBroker(0);
    store = await openStore({ ORCH_DATA_DIR: dataDir });
    orchestration = createOrchestration({ logger: silentLogger(), store, kinds: DEFAULT_KINDS });
    await orchestration.assign('Thing', ['t1', 't2']);
  });

  afterAll(async () => {
    await store.close();
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits with code 2 and names the variable when INSTANCE_ID is missing', async () => {
    const worker = spawnWorker({ RESOURCE: 'Thing', ORCH_DATA_DIR: dataDir });

    expect(await worker.exit).toBe(2);
    expect(worker.output()).toMatch(/iota-worker: INSTANCE_ID: is required/);
  });

  it('heartbeats on MQTT topic HeartBeat with its instance, pod name and resource count, and exits 0 on SIGTERM', async () => {
    const listener = await mqtt.connectAsync(broker.url);
    const beats: Array<Record<string, unknown>> = [];
    listener.on('message', (_topic, payload) => beats.push(JSON.parse(payload.toString()) as Record<string, unknown>));
    await listener.subscribeAsync('HeartBeat', { qos: 0 });

    const worker = spawnWorker({
      INSTANCE_ID: '0',
      RESOURCE: 'Thing',
      POD_NAME: 'iota-dac-0-g7',
      ORCH_DATA_DIR: dataDir,
      MQTT_URL: broker.url,
      HEARTBEAT_INTERVAL: '0.2',
    });
    await waitFor(
      () => (beats.length >= 2 ? true : undefined),
      `two heartbeats; worker output:\n${worker.output()}`,
      20_000,
    );
    worker.child.kill('SIGTERM');
    const code = await worker.exit;
    await listener.endAsync();

    expect(beats[0]).toMatchObject({
      resource: 'Thing',
      instanceId: '0',
      podName: 'iota-dac-0-g7',
      resources: 2,
      pid: worker.child.pid,
    });
    expect(typeof beats[0]!.at).toBe('number');
    expect(code).toBe(0);
    expect(worker.output()).toMatch(/"msg":"stopping"/);
  });

  it('keeps running with heartbeats off until it is told to stop', async () => {
    const worker = spawnWorker({
      INSTANCE_ID: '0',
      RESOURCE: 'Thing',
      ORCH_DATA_DIR: dataDir,
      HEARTBEAT_INTERVAL: '0',
    });
    await waitForOutput(worker, 'worker started', 'the worker to start');
    // Still running after start-up: it follows a reload asked for afterwards, which takes at least one poll
    // of the store and a re-read. The store's polling does not hold a process open; a worker that did not
    // keep itself running would have exited right after 'worker started'.
    await orchestration.reload('Thing', ['t1']);
    await waitForOutput(worker, '"cause":"reload"', 'the worker to follow the reload');

    expect(worker.child.exitCode).toBe(null);
    expect(worker.output()).toContain('"cause":"reload"');
    worker.child.kill('SIGTERM');
    expect(await worker.exit).toBe(0);
  });
});
