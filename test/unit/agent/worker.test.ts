/**
 * The reference worker against both real stores: it serves what the
 * orchestrator assigned it, follows `_reload`, and heartbeats in the
 * contract's shape. Changes are made through the real orchestration use cases, so the
 * test also holds the orchestrator to "every change bumps _reload".
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeartbeatMessage, HeartbeatSender } from '../../../lib/agent/heartbeat-sender.js';
import {
  parseReloadTimes,
  parseResourceList,
  startWorker,
  type ResourcesUpdate,
  type RunningWorker,
} from '../../../lib/agent/worker.js';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { silentLogger } from '../../../lib/log.js';
import { createOrchestration, type Orchestration } from '../../../lib/orchestration/index.js';
import { openTestStore, STORE_ADAPTERS, type TestStore } from '../../support/stores.js';

/** An in-memory heartbeat transport: what the worker would have published. */
class RecordingSender implements HeartbeatSender {
  readonly description = 'recording';
  readonly sent: HeartbeatMessage[] = [];
  closed = false;
  async send(message: HeartbeatMessage) {
    if (this.closed) throw new Error('send after close');
    this.sent.push(message);
    return 'sent' as const;
  }
  async close() {
    this.closed = true;
  }
}

const nextUpdate = (
  worker: RunningWorker,
  matches: (update: ResourcesUpdate) => boolean = () => true,
): Promise<ResourcesUpdate> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no matching 'resources' event; worker serves ${JSON.stringify(worker.resources())}`)),
      10_000,
    );
    const listener = (update: ResourcesUpdate): void => {
      if (!matches(update)) return;
      clearTimeout(timer);
      worker.off('resources', listener);
      resolve(update);
    };
    worker.on('resources', listener);
  });

describe.each(STORE_ADAPTERS)('reference worker on %s', (adapter) => {
  let testStore: TestStore;
  let orchestrator: Orchestration;
  let root: string;
  const workers: RunningWorker[] = [];

  beforeEach(async () => {
    testStore = await openTestStore(adapter, 'worker');
    root = testStore.env.ZK_ROOT ?? '/iota/orchestration';
    orchestrator = createOrchestration({
      logger: silentLogger(),
      store: testStore.store,
      kinds: DEFAULT_KINDS,
      root,
      stateRoot: testStore.env.ZK_STATE_ROOT || undefined,
    });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    await testStore.cleanup();
  });

  const start = async (
    instanceId: string,
    extra: { heartbeat?: HeartbeatSender; heartbeatIntervalMs?: number } = {},
  ): Promise<RunningWorker> => {
    const worker = await startWorker({
      instanceId,
      resource: 'Thing',
      podName: `iota-dac-${instanceId}-g1`,
      store: testStore.store,
      root,
      ...extra,
    });
    workers.push(worker);
    return worker;
  };

  it('serves the resources already assigned to its instance when it starts', async () => {
    await orchestrator.assign('Thing', ['t1', 't2']);

    const worker = await start('0');

    expect([...worker.resources()].sort()).toEqual(['t1', 't2']);
    expect(worker.reloadTimes()).toBeGreaterThanOrEqual(0);
  });

  it('starts with an empty list when its instance does not exist yet', async () => {
    const worker = await start('7');

    expect(worker.resources()).toEqual([]);
    expect(worker.reloadTimes()).toBe(0);
  });

  it('re-reads its list when a resource is assigned or removed', async () => {
    await orchestrator.assign('Thing', ['t1']);
    const worker = await start('0');
    const timesAtStart = worker.reloadTimes();

    const added = nextUpdate(worker, (update) => update.ids.includes('t2'));
    await orchestrator.assign('Thing', ['t2']);
    const afterAdd = await added;

    expect([...afterAdd.ids].sort()).toEqual(['t1', 't2']);
    expect(afterAdd.reloadTimes).toBeGreaterThan(timesAtStart);

    const removed = nextUpdate(worker, (update) => !update.ids.includes('t1'));
    await orchestrator.unassign('Thing', ['t1']);
    expect((await removed).ids).toEqual(['t2']);
    expect(worker.resources()).toEqual(['t2']);
  });

  it('is told to reload when one of its resources changed, with the same list', async () => {
    await orchestrator.assign('Thing', ['t1']);
    const worker = await start('0');
    const before = worker.reloadTimes();

    const reloaded = nextUpdate(worker);
    await orchestrator.reload('Thing', ['t1']);
    const update = await reloaded;

    expect(update.ids).toEqual(['t1']);
    expect(update.reloadTimes).toBe(before + 1);
  });

  it('sees its instance appear after it started', async () => {
    const worker = await start('0');

    const appeared = nextUpdate(worker, (update) => update.ids.length > 0);
    await orchestrator.assign('Thing', ['late']);

    expect((await appeared).ids).toEqual(['late']);
  });

  it('sends its first heartbeat at start, in the contract shape', async () => {
    await orchestrator.assign('Thing', ['t1', 't2', 't3']);
    const sender = new RecordingSender();
    // Only Date is faked, and it stands still: the store's I/O and timers run as usual, and `at` must be the clock's reading.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const clock = Date.now();
    try {
      await start('0', { heartbeat: sender, heartbeatIntervalMs: 60_000 });
    } finally {
      vi.useRealTimers();
    }

    expect(sender.sent).toHaveLength(1);
    const beat = sender.sent[0]!;
    expect(beat).toMatchObject({
      resource: 'Thing',
      instanceId: '0',
      podName: 'iota-dac-0-g1',
      pid: process.pid,
      resources: 3,
    });
    expect(beat.at).toBe(clock);
  });

  it('keeps heartbeating every interval', async () => {
    const sender = new RecordingSender();

    const worker = await start('0', { heartbeat: sender, heartbeatIntervalMs: 30 });

    await expect.poll(() => sender.sent.length, { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    expect(worker.heartbeatsSent()).toBeGreaterThanOrEqual(3);
    const times = sender.sent.map((beat) => beat.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('stops heartbeating, stops following changes and closes its sender on stop', async () => {
    await orchestrator.assign('Thing', ['t1']);
    const sender = new RecordingSender();
    const worker = await start('0', { heartbeat: sender, heartbeatIntervalMs: 20 });
    let updates = 0;
    worker.on('resources', () => updates++);

    await worker.stop();
    const sentAtStop = sender.sent.length;
    // A second worker on the same instance, with the same interval, started after the stop: what it
    // sees proves the stopped one had its chance to misbehave. It follows the change, which the store
    // delivers to watchers in the order they were set, and it beats several times, which a
    // heartbeat timer of the stopped worker (set earlier, same interval) would have done first.
    const controlSender = new RecordingSender();
    const control = await start('0', { heartbeat: controlSender, heartbeatIntervalMs: 20 });
    const followed = nextUpdate(control, (update) => update.ids.includes('t2'));
    await orchestrator.assign('Thing', ['t2']);
    await followed;
    await expect.poll(() => controlSender.sent.length, { timeout: 5000 }).toBeGreaterThanOrEqual(5);

    expect(sender.closed).toBe(true);
    expect(sender.sent.length).toBe(sentAtStop);
    expect(updates).toBe(0);
    expect(worker.resources()).toEqual(['t1']);
  });
});

describe('reading the legacy nodes', () => {
  it('reads {"ids":[...]} exactly as the orchestrator writes it', () => {
    expect(parseResourceList('{"ids":["a","b"]}', '/p')).toEqual(['a', 'b']);
    expect(parseResourceList('', '/p')).toEqual([]);
  });

  it('rejects a resources node of another shape, naming the node', () => {
    expect(() => parseResourceList('{"ids":[1]}', '/iota/orchestration/Thing/0/resources')).toThrow(
      /Thing\/0\/resources must be \{"ids"/,
    );
    expect(() => parseResourceList('nope', '/x/resources')).toThrow(/\/x\/resources is not JSON/);
  });

  it('reads a missing or malformed _reload as zero', () => {
    expect(parseReloadTimes('{"times":4}')).toBe(4);
    expect(parseReloadTimes(undefined)).toBe(0);
    expect(parseReloadTimes('garbage')).toBe(0);
  });
});
