/**
 * The deployed artefacts themselves on real ZooKeeper: the notify, heartbeat and api bundles, built as
 * `sls package` builds them, each invoked in a fresh node the way Lambda loads a handler. The bundles
 * carry the shims of infra/bundle-shims/ in place of underscore, async and node:assert inside the
 * ZooKeeper client, so this is where a shim that lacked something the client calls would fail:
 * connecting shuffles the servers and fills in defaults, every request runs through the client's
 * retry loop (async.whilst), and creating a path walks it with async.eachSeries.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type BuiltBundle, buildFunctionBundles, functionBuild } from '../../../bench/bundles.js';
import { Layout } from '../../../lib/orchestration/layout.js';
import { openStore } from '../../../lib/store/open.js';
import type { NodeStore } from '../../../lib/store/port.js';
import { uniqueRoot } from '../../support/paths.js';
import { sampleEvent } from '../../unit/handlers/fixtures.js';
import { placements, readLegacyLayout, seedKind } from './layout-snapshot.js';

const run = promisify(execFile);
const root = uniqueRoot('bundles-on-zookeeper');
const env = {
  ZK_CONNECT: inject('zkConnect'),
  ZK_ROOT: `${root}/orchestration`,
  ZK_STATE_ROOT: `${root}/orchestrator`,
  LOG_LEVEL: 'silent',
};
const layout = new Layout(env.ZK_ROOT, env.ZK_STATE_ROOT);
const CREATED = '6d1c2f0e-3b8a-4c57-9f2e-1a2b3c4d5e6f';
const BULK = 'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51';
const DELETED_AFTER = 'c0ffee00-1234-4abc-9def-00112233aabb';

let dir: string;
let store: NodeStore;
const bundles = new Map<string, BuiltBundle>();

/** Invokes the bundle's handler with `event` in a fresh node, as the Lambda runtime does, and returns its result. */
async function invoke(name: string, event: unknown): Promise<unknown> {
  const code = `const { handler } = require(${JSON.stringify(bundles.get(name)!.file)});
    const context = { awsRequestId: 'bundle-test', functionName: ${JSON.stringify(name)}, getRemainingTimeInMillis: () => 30000 };
    handler(JSON.parse(process.argv[1]), context).then(
      (result) => { process.stdout.write('\\nRESULT ' + JSON.stringify(result ?? null) + '\\n'); process.exit(0); },
      (error) => { console.error(error); process.exit(1); });`;
  // A frozen Lambda keeps its ZooKeeper session; this process exits once the handler has answered.
  const { stdout } = await run(process.execPath, ['-e', code, JSON.stringify(event)], {
    env: { PATH: process.env.PATH, ...env },
    timeout: 60_000,
  });
  // Metrics (CloudWatch EMF) are lines on stdout too.
  const result = stdout.split('\n').find((line) => line.startsWith('RESULT '));
  if (result === undefined) throw new Error(`${name} printed no result: ${stdout.slice(-2000)}`);
  return JSON.parse(result.slice('RESULT '.length)) as unknown;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bundles-on-zookeeper-'));
  const deployed = functionBuild();
  const spec = { ...deployed, options: { ...deployed.options, sourcemap: false as const } };
  for (const bundle of await buildFunctionBundles(dir, spec, ['notify', 'heartbeat', 'api']))
    bundles.set(bundle.name, bundle);
  store = await openStore(env);
  await seedKind(store, layout, 'Thing', 2, 100);
}, 120_000);

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the notify, heartbeat and api bundles on ZooKeeper', () => {
  it('notify places an SQS batch: each live id on one instance, the id deleted later in the batch nowhere', async () => {
    const response = await invoke('notify', sampleEvent('notify-sqs-batch.json'));

    expect(response).toEqual({ batchItemFailures: [] });
    const placed = placements(await readLegacyLayout(store, env.ZK_ROOT, 'Thing'));
    expect(placed.get(CREATED)).toMatch(/^[01]$/);
    expect(placed.get(BULK)).toMatch(/^[01]$/);
    expect(placed.has(DELETED_AFTER)).toBe(false);
  });

  it('heartbeat records the beat of each instance in an MSK batch, at the time of its record', async () => {
    const event = sampleEvent<{ records: Record<string, Array<{ timestamp: number; value: string }>> }>(
      'heartbeat-msk.json',
    );
    const beats = Object.values(event.records)
      .flat()
      .map((record) => ({
        at: record.timestamp,
        ...(JSON.parse(Buffer.from(record.value, 'base64').toString()) as { resource: string; instanceId: string }),
      }));
    expect(beats.length).toBeGreaterThan(0);

    await invoke('heartbeat', event);

    for (const { resource, instanceId } of beats) {
      const latest = Math.max(...beats.filter((beat) => beat.instanceId === instanceId).map((beat) => beat.at));
      const stored = await store.get(layout.heartbeat(resource, instanceId));
      expect(JSON.parse(stored?.data ?? '{}')).toMatchObject({ at: latest });
    }
  });

  it('api locates the id notify placed', async () => {
    const placed = placements(await readLegacyLayout(store, env.ZK_ROOT, 'Thing'));

    const response = (await invoke('api', sampleEvent('api-locate.json'))) as { statusCode: number; body: string };

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(`"${placed.get(CREATED)}"`);
  });
});
