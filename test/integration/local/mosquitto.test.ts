/**
 * npm start against an external broker (Debian `mosquitto`) instead of the
 * embedded one: cm/notify and heartbeats both travel through Mosquitto.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrchestrationView } from '../../../lib/orchestration/types.js';
import { freePort } from '../../support/zookeeper-server.js';
import { getJson, startMain, waitFor, type RunningMain } from './harness.js';

const MOSQUITTO = process.env.MOSQUITTO_PATH ?? '/usr/sbin/mosquitto';

interface Mosquitto {
  url: string;
  stop(): Promise<void>;
}

async function startMosquitto(): Promise<Mosquitto> {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(
      `Mosquitto is required for this test and was not found at ${MOSQUITTO}. ` +
        'Install it with: sudo apt-get install -y mosquitto (Debian/Ubuntu), or set MOSQUITTO_PATH. `bash .ci/run` installs it for you.',
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iota-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
    ].join('\n') + '\n',
  );
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(
    () =>
      new Promise<boolean | undefined>((resolve) => {
        if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
        const socket = createConnection({ host: '127.0.0.1', port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(undefined));
      }),
    `mosquitto on port ${port}`,
    10_000,
  );
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const publishCreate = async (url: string, id: string): Promise<void> => {
  const client = await mqtt.connectAsync(url);
  await client.publishAsync('cm/notify', JSON.stringify({ o: 'c', t: 'Thing', k: { id } }), { qos: 1 });
  await client.endAsync();
};

describe('npm start with MQTT_URL pointing at Mosquitto', () => {
  let broker: Mosquitto;
  let main: RunningMain;

  beforeAll(async () => {
    broker = await startMosquitto();
    main = await startMain({ env: { MQTT_URL: broker.url } });
  }, 60_000);

  afterAll(async () => {
    await main?.stop();
    main?.cleanup();
    await broker?.stop();
  });

  it('embeds no broker of its own and says it uses the external one', async () => {
    const started = main.events().find((event) => event.event === 'started');

    expect(started?.MQTT).toContain(`${broker.url} (external broker)`);
    const connectable = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: main.mqttPort }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    expect(connectable).toBe(false);
  });

  it('assigns a Thing created on cm/notify through Mosquitto, and its worker heartbeats through Mosquitto', async () => {
    await publishCreate(broker.url, 'via-mosquitto');

    const located = await waitFor(async () => {
      const { status, body } = await getJson<{ runIn?: string }>(
        `${main.httpUrl}/v1/api/orchestrations/Thing/via-mosquitto/instances`,
      );
      return status === 200 ? body : undefined;
    }, 'via-mosquitto to be assigned');
    expect(located.runIn).toBe('0');

    const instance = await waitFor(
      async () => {
        const { body } = await getJson<OrchestrationView>(`${main.httpUrl}/v1/api/orchestrations/Thing`);
        const zero = body.instances.find((i) => i.id === '0');
        return zero?.health === 'healthy' && zero.heartbeat !== null && zero.pod?.phase === 'Running'
          ? zero
          : undefined;
      },
      'instance 0 running and heartbeating',
      30_000,
    );
    expect(instance.pod?.name).toBe('iota-dac-0-g1');
  });

  it('applies a create published while it was stopped once it is back (persistent session)', async () => {
    const { port, mqttPort, dataDir } = main;
    expect(await main.stop()).toBe(0);

    await publishCreate(broker.url, 'while-down');
    main = await startMain({ dataDir, port, mqttPort, env: { MQTT_URL: broker.url } });

    const located = await waitFor(async () => {
      const { status, body } = await getJson<{ runIn?: string }>(
        `${main.httpUrl}/v1/api/orchestrations/Thing/while-down/instances`,
      );
      return status === 200 ? body : undefined;
    }, 'while-down to be assigned after the restart');
    expect(located.runIn).toBe('0');
  });
});
