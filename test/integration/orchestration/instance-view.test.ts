/**
 * One instance as the API shows it, on each real store adapter: its counters,
 * pod, heartbeat and last record, and its resource ids paged by key and
 * searched; the pod's phase read from its first heartbeat.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS } from '../../../lib/config/kinds.js';
import { silentLogger } from '../../../lib/log.js';
import { UnknownResourceError } from '../../../lib/orchestration/errors.js';
import { createOrchestration, type Orchestration } from '../../../lib/orchestration/index.js';
import type { InstanceRecord, ResourcePageRequest } from '../../../lib/orchestration/types.js';
import { openTestStore, STORE_ADAPTERS, type TestStore } from '../../support/stores.js';

const THINGS = Array.from({ length: 25 }, (_, i) => `thing-${String(i).padStart(2, '0')}`);

describe.each(STORE_ADAPTERS)('the instance view on %s', (adapter) => {
  let t: TestStore;
  let now = 1_700_000_000_000;
  let orchestrator: Orchestration;

  /** Every id of instance 0 reached by following nextCursor from the first page. */
  const walk = async (request: Omit<ResourcePageRequest, 'cursor'>): Promise<string[][]> => {
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const detail = await orchestrator.describeInstance('Thing', '0', { ...request, cursor });
      pages.push([...detail!.resources.ids]);
      cursor = detail!.resources.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return pages;
  };

  const created = (pod: string, at: number): InstanceRecord => ({
    action: 'created',
    reason: 'no pod',
    pod,
    generation: 1,
    at,
    phase: 'Pending',
  });

  beforeEach(async () => {
    t = await openTestStore(adapter, 'instance-view');
    orchestrator = createOrchestration({
      logger: silentLogger(),
      store: t.store,
      kinds: DEFAULT_KINDS,
      root: t.env.ZK_ROOT,
      stateRoot: t.env.ZK_STATE_ROOT,
      clock: () => now,
    });
    // Stored out of order: the view lists them sorted all the same.
    await orchestrator.assign('Thing', [...THINGS].reverse());
  });
  afterEach(() => t.cleanup());

  it('returns the instance with its pod, heartbeat, record and the first page of its ids', async () => {
    await orchestrator.writeRecord('Thing', '0', { ...created('iota-dac-0-g1', now), phase: 'Running' });
    await orchestrator.recordHeartbeats([
      { resource: 'Thing', instanceId: '0', at: now + 1_000, extra: { podName: 'iota-dac-0-g1', resources: 25 } },
    ]);
    now += 4_000;

    const detail = await orchestrator.describeInstance('Thing', '0', { limit: 10 });

    expect(detail).toMatchObject({
      resource: 'Thing',
      instanceName: 'iota-dac',
      instance: { id: '0', used: 25, count: 5000, reloadTimes: 0, draining: false, health: 'healthy' },
      pod: { name: 'iota-dac-0-g1', phase: 'Running' },
      heartbeat: { at: now - 3_000, ageMs: 3_000, extra: { podName: 'iota-dac-0-g1', resources: 25 } },
      record: { action: 'created', pod: 'iota-dac-0-g1', generation: 1 },
      generatedAt: now,
    });
    expect(detail!.resources).toMatchObject({ total: 25, matched: 25, query: null, limit: 10 });
    expect(detail!.resources.ids).toEqual(THINGS.slice(0, 10));
    expect(detail!.resources.nextCursor).toEqual(expect.any(String));
  });

  it('pages through every id once, in order, ending with no cursor', async () => {
    const pages = await walk({ limit: 10 });

    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
    expect(pages.flat()).toEqual(THINGS);
  });

  it('neither repeats nor skips an id that stays while others come and go between pages', async () => {
    const first = await orchestrator.describeInstance('Thing', '0', { limit: 10 });
    // Before the cursor an id leaves and one arrives; after it one leaves.
    await orchestrator.unassign('Thing', ['thing-03', 'thing-20']);
    await orchestrator.assign('Thing', ['thing-00a']);

    const rest: string[] = [];
    let cursor = first!.resources.nextCursor ?? undefined;
    while (cursor !== undefined) {
      const page = (await orchestrator.describeInstance('Thing', '0', { limit: 10, cursor }))!.resources;
      rest.push(...page.ids);
      cursor = page.nextCursor ?? undefined;
    }

    expect([...first!.resources.ids, ...rest]).toEqual(THINGS.filter((id) => id !== 'thing-20'));
  });

  it('searches the ids, ignoring case, and pages what matches', async () => {
    const pages = await walk({ limit: 2, query: 'THING-1' });

    expect(pages.flat()).toEqual(THINGS.filter((id) => id.startsWith('thing-1')));
    const detail = await orchestrator.describeInstance('Thing', '0', { limit: 2, query: ' thing-1 ' });
    expect(detail!.resources).toMatchObject({ total: 25, matched: 10, query: 'thing-1' });
    const none = await orchestrator.describeInstance('Thing', '0', { limit: 2, query: 'nothing' });
    expect(none!.resources).toMatchObject({ matched: 0, ids: [], nextCursor: null });
  });

  it('has no instance that does not exist, and no kind that is not configured', async () => {
    expect(await orchestrator.describeInstance('Thing', '7', { limit: 10 })).toBeUndefined();
    expect(await orchestrator.describeInstance('Thing', '007', { limit: 10 })).toBeUndefined();
    await expect(orchestrator.describeInstance('Device', '0', { limit: 10 })).rejects.toBeInstanceOf(
      UnknownResourceError,
    );
  });

  it('shows a new pod Running from the first heartbeat its worker sends, before reconcile observes it', async () => {
    const createdAt = now;
    await orchestrator.writeRecord('Thing', '0', created('iota-dac-0-g2', createdAt));
    const phase = async () => ({
      instance: (await orchestrator.describeInstance('Thing', '0', { limit: 1 }))!.pod?.phase,
      kind: (await orchestrator.describe('Thing')).instances[0]!.pod?.phase,
    });

    // A beat older than the pod, and one from the pod it replaced: still Pending.
    await orchestrator.recordHeartbeats([
      { resource: 'Thing', instanceId: '0', at: createdAt - 5_000, extra: { podName: 'iota-dac-0-g2' } },
    ]);
    expect(await phase()).toEqual({ instance: 'Pending', kind: 'Pending' });
    await orchestrator.recordHeartbeats([
      { resource: 'Thing', instanceId: '0', at: createdAt + 500, extra: { podName: 'iota-dac-0-g1' } },
    ]);
    expect(await phase()).toEqual({ instance: 'Pending', kind: 'Pending' });

    await orchestrator.recordHeartbeats([
      { resource: 'Thing', instanceId: '0', at: createdAt + 1_000, extra: { podName: 'iota-dac-0-g2' } },
    ]);
    expect(await phase()).toEqual({ instance: 'Running', kind: 'Running' });
  });
});
