/**
 * No acknowledged cm/notify message is lost by the embedded broker, across
 * `kill -9` of npm start and across a clean stop. Real processes throughout:
 * npm start (lib/local/main.ts) on its own data directory, and publisher
 * processes that send QoS 1 creates and print every PUBACK they receive. Each
 * acknowledged id must end up assigned to exactly one instance.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { Inbox } from '../../../lib/local/inbox.js';
import { silentLogger } from '../../../lib/log.js';
import { createOrchestration } from '../../../lib/orchestration/index.js';
import { openStore } from '../../../lib/store/open.js';
import type { NodeStore } from '../../../lib/store/port.js';
import { REPO_ROOT, startMain, waitFor, type RunningMain } from './harness.js';

interface Publisher {
  /** Ids whose PUBACK the publisher has printed so far. */
  readonly acked: Set<string>;
  /** Exit code once ended (0: every message acknowledged). */
  exitCode(): number | null;
  kill(): void;
}

/** A publisher of `count` creates with at most `window` unacknowledged: a wide window outruns the store. */
function startPublisher(mqttPort: number, prefix: string, count: number, window: number): Publisher {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/integration/local/notify-publisher.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`,
      PREFIX: prefix,
      COUNT: String(count),
      WINDOW: String(window),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acked = new Set<string>();
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.startsWith('ack ')) acked.add(line.slice(4));
  });
  // 'close', not 'exit': the process may exit before its last `ack` lines have been read from the pipe.
  let closedWith: number | null = null;
  child.on('close', (code) => {
    closedWith = code;
  });
  return { acked, exitCode: () => closedWith, kill: () => child.kill('SIGKILL') };
}

/**
 * Worker processes still running on a data directory, found by their environment: a test that failed right after
 * a kill leaves workers no npm start adopted, and a kill while a worker is being started can leave one that no state
 * file names (lib/instances/processes.ts).
 */
function workersOf(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`ORCH_DATA_DIR=${dataDir}`) && environ.some((variable) => variable.startsWith('POD_NAME=')))
        pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

const ackedBy = (publishers: readonly Publisher[]): string[] => publishers.flatMap((p) => [...p.acked]);

/** How many instance lists hold each assigned Thing, read from the store of the data directory. */
async function placements(store: NodeStore): Promise<Map<string, number>> {
  const orchestration = createOrchestration({ logger: silentLogger(), store, kinds: DEFAULT_KINDS });
  const lists = new Map<string, number>();
  for (const instance of await orchestration.read('Thing'))
    for (const id of instance.ids) lists.set(id, (lists.get(id) ?? 0) + 1);
  return lists;
}

/** The Thing ids of the creates still in the inbox of a stopped npm start. */
function idsInInbox(dataDir: string): Set<string> {
  const inbox = Inbox.open(dataDir);
  try {
    const entries = inbox.oldest(Number.MAX_SAFE_INTEGER);
    return new Set(
      entries
        .filter((entry) => entry.topic === 'cm/notify')
        .map((entry) => (JSON.parse(entry.payload.toString('utf8')) as { k: { id: string } }).k.id),
    );
  } finally {
    inbox.close();
  }
}

const exitOf = (main: RunningMain): Promise<true> =>
  waitFor(
    () => (main.child.exitCode !== null || main.child.signalCode !== null ? true : undefined),
    'npm start to end',
  );

/** Acknowledged at the moment npm start ended, applied then, and kept in its inbox for the next start. */
interface AtEnd {
  readonly acked: number;
  readonly applied: number;
  readonly inInbox: number;
  readonly neither: string[];
}

async function accountAtEnd(publishers: readonly Publisher[], store: NodeStore, dataDir: string): Promise<AtEnd> {
  const acked = ackedBy(publishers);
  const placed = await placements(store);
  const inInbox = idsInInbox(dataDir);
  const applied = acked.filter((id) => placed.has(id));
  return {
    acked: acked.length,
    applied: applied.length,
    inInbox: acked.filter((id) => !placed.has(id) && inInbox.has(id)).length,
    neither: acked.filter((id) => !placed.has(id) && !inInbox.has(id)),
  };
}

/** Once every publisher is done: every acknowledged id assigned, to exactly one instance. */
async function expectEveryAckedIdPlacedOnce(publishers: readonly Publisher[], store: NodeStore, total: number) {
  await waitFor(
    () => (publishers.every((publisher) => publisher.exitCode() !== null) ? true : undefined),
    `the publishers to have every message acknowledged (so far ${publishers.map((p) => p.acked.size).join(', ')})`,
    60_000,
  );
  // 0: every message acknowledged; a publisher says on stderr why it ended otherwise.
  expect(publishers.map((publisher) => publisher.exitCode())).toEqual(publishers.map(() => 0));
  const acked = ackedBy(publishers);
  expect(acked.length).toBe(total);
  const placed = await waitFor(
    async () => {
      const lists = await placements(store);
      return acked.every((id) => lists.has(id)) ? lists : undefined;
    },
    'every acknowledged id to be assigned',
    30_000,
  ).catch(() => placements(store));
  expect(acked.filter((id) => !placed.has(id))).toEqual([]);
  expect(acked.filter((id) => placed.get(id) !== 1)).toEqual([]);
  return acked.length;
}

describe('the embedded broker acknowledges only what survives', () => {
  let main: RunningMain | undefined;
  let publishers: Publisher[] = [];
  let store: NodeStore | undefined;

  afterEach(async () => {
    for (const publisher of publishers) publisher.kill();
    await store?.close();
    await main?.stop();
    for (const pid of main ? workersOf(main.dataDir) : []) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Not a group leader (a worker's own child, gone with its group) or already gone.
      }
    }
    main?.cleanup();
    main = undefined;
    store = undefined;
  });

  it('loses no acknowledged create when npm start is killed with SIGKILL mid-stream, twice', async () => {
    main = await startMain();
    const { port, mqttPort, dataDir } = main;
    store = await openStore({ ORCH_DATA_DIR: dataDir });
    publishers = [startPublisher(mqttPort, 'k9a', 1500, 500), startPublisher(mqttPort, 'k9b', 1500, 500)];

    const kills: AtEnd[] = [];
    for (const killAfter of [800, 1800]) {
      const running = main;
      await waitFor(() => (ackedBy(publishers).length >= killAfter ? true : undefined), `${killAfter} PUBACKs`, 60_000);
      running.child.kill('SIGKILL');
      await exitOf(running);
      // At the instant of the kill, whatever was acknowledged is applied or on disk.
      const atKill = await accountAtEnd(publishers, store, dataDir);
      expect(atKill.neither).toEqual([]);
      kills.push(atKill);
      main = await startMain({ dataDir, port, mqttPort });
    }

    const total = await expectEveryAckedIdPlacedOnce(publishers, store, 3000);
    const atKills = kills.map((k) => `${k.acked} acked at a kill (${k.applied} applied, ${k.inInbox} in the inbox)`);
    console.info(`kill -9: ${atKills.join('; ')}; after the restarts ${total} acked, ${total} applied`);
  }, 180_000);

  it('applies the backlog before a SIGTERM exit, and the next start applies anything left', async () => {
    main = await startMain();
    const { port, mqttPort, dataDir } = main;
    store = await openStore({ ORCH_DATA_DIR: dataDir });
    publishers = [startPublisher(mqttPort, 'ta', 2250, 1000), startPublisher(mqttPort, 'tb', 2250, 1000)];

    await waitFor(() => (ackedBy(publishers).length >= 1500 ? true : undefined), '1500 PUBACKs', 60_000);
    const stoppedAt = Date.now();
    expect(await main.stop()).toBe(0);
    const stopMs = Date.now() - stoppedAt;
    const atStop = await accountAtEnd(publishers, store, dataDir);
    expect(atStop.neither).toEqual([]);
    const drained = main.events().find((event) => String(event.msg).includes('from the inbox'));
    expect(drained).toMatchObject({ left: 0 });
    const drainedCount = Number(drained?.applied);

    main = await startMain({ dataDir, port, mqttPort });
    const total = await expectEveryAckedIdPlacedOnce(publishers, store, 4500);
    console.info(
      `SIGTERM: ${atStop.acked} acked at the exit, ${atStop.applied} applied before it, ` +
        `${atStop.inInbox} in the inbox; the drain applied ${drainedCount} messages in a stop of ${stopMs} ms; ` +
        `after the restart ${total} acked, ${total} applied`,
    );
  }, 180_000);
});
