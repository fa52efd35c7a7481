/**
 * npm start with ZK_CONNECT: the orchestrator and its workers use ZooKeeper
 * instead of the embedded SQLite file, the legacy layout under ZK_ROOT.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrchestrationView } from '../../../lib/orchestration/types.js';
import { openStore } from '../../../lib/store/open.js';
import { uniqueRoot } from '../../support/paths.js';
import { getJson, startMain, waitFor, type RunningMain } from './harness.js';

describe('npm start with ZK_CONNECT', () => {
  const root = uniqueRoot('npm-start');
  const env = {
    ZK_CONNECT: inject('zkConnect'),
    ZK_ROOT: `${root}/orchestration`,
    ZK_STATE_ROOT: `${root}/orchestrator`,
  };
  let main: RunningMain;

  beforeAll(async () => {
    main = await startMain({ env });
  }, 60_000);

  afterAll(async () => {
    await main?.stop();
    main?.cleanup();
  });

  it('says it uses ZooKeeper, writes the legacy layout there, and its worker reads it', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${main.mqttPort}`);
    await client.publishAsync('cm/notify', JSON.stringify({ o: 'c', t: 'Thing', k: { id: 'zk-thing' } }), { qos: 1 });
    await client.endAsync();

    await waitFor(
      async () => {
        const { body } = await getJson<OrchestrationView>(`${main.httpUrl}/v1/api/orchestrations/Thing`);
        return body.instances[0]?.health === 'healthy' ? true : undefined;
      },
      'instance 0 to heartbeat',
      30_000,
    );

    expect(String(main.events().find((event) => event.event === 'started')?.Store)).toMatch(/zookeeper/i);
    const store = await openStore(env);
    try {
      expect((await store.get(`${env.ZK_ROOT}/Thing/0/resources`))?.data).toBe('{"ids":["zk-thing"]}');
    } finally {
      await store.close();
    }
    const logs = readdirSync(join(main.dataDir, 'logs'));
    expect(logs).toEqual(['iota-dac-0-g1.log']);
    expect(readFileSync(join(main.dataDir, 'logs', logs[0]!), 'utf8')).toContain('serving 1 Thing');
  });
});
