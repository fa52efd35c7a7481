/**
 * The behaviour every NodeStore adapter shares, run against each of them
 * (real ZooKeeper and embedded SQLite), so the embedded default and
 * production agree by construction.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ANY_VERSION,
  ConflictError,
  createInFolder,
  StoreUnavailableError,
  withRetry,
  type ConflictReason,
  type NodeStore,
  type WriteOp,
} from '../../lib/store/port.js';

export interface OpenedStore {
  store: NodeStore;
  /** A path no other test uses; it may not exist yet. */
  root: string;
  cleanup: () => Promise<void>;
}

async function expectConflict(promise: Promise<unknown>, reason: ConflictReason, path?: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConflictError);
  expect((error as ConflictError).reason).toBe(reason);
  if (path !== undefined) expect((error as ConflictError).path).toBe(path);
}

/** A watch with a promise of its first call and a count of all calls. */
function observe(store: NodeStore, path: string): { fired: Promise<void>; calls: () => number; cancel: () => void } {
  let calls = 0;
  let resolveFired!: () => void;
  const fired = new Promise<void>((resolve) => (resolveFired = resolve));
  const cancel = store.watch(path, () => {
    calls += 1;
    resolveFired();
  });
  return { fired, calls: () => calls, cancel };
}

/** `promise`, or a failure naming `what` if it is still pending after `ms`: a bound on waiting, not a timing assertion. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Proves that every watch call a write of `path` could cause has been made, without
 * sleeping: a fresh watch, set after that write, sees a later write of the same node.
 * Both adapters deliver a node's changes in order and call a change's watchers in the
 * order they were set, so a call the earlier write owed would have come first.
 */
async function fence(store: NodeStore, path: string, write: WriteOp): Promise<{ calls: () => number }> {
  const later = observe(store, path);
  await store.commit([write]);
  await within(later.fired, 5000, 'the fence watch call');
  return later;
}

export function describeStoreContract(adapterName: string, open: () => Promise<OpenedStore>): void {
  describe(`NodeStore contract: ${adapterName}`, () => {
    let store: NodeStore;
    let root: string;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, root, cleanup } = await open());
      await store.ensurePath(root);
    });

    afterEach(async () => {
      await cleanup();
    });

    const create = (path: string, data: string): Extract<WriteOp, { op: 'create' }> => ({ op: 'create', path, data });

    it('ensurePath creates every missing ancestor with empty data and leaves existing nodes alone', async () => {
      // Prepare
      const deep = `${root}/a/b/c`;
      // Act
      await store.ensurePath(deep);
      await store.commit([{ op: 'set', path: `${root}/a`, data: 'kept', version: 0 }]);
      await store.ensurePath(deep);
      await store.ensurePath(`${root}/a`);
      // Assess
      expect(await store.get(`${root}/a`)).toEqual({ path: `${root}/a`, data: 'kept', version: 1 });
      expect(await store.get(`${root}/a/b`)).toEqual({ path: `${root}/a/b`, data: '', version: 0 });
      expect(await store.get(deep)).toEqual({ path: deep, data: '', version: 0 });
      expect(await store.children(`${root}/a/b`)).toEqual(['c']);
    });

    it('createInFolder makes a missing folder on its first create only, and passes on any other conflict', async () => {
      // Prepare
      const folder = `${root}/made/on/first`;
      let ensured = 0;
      const ensurePath = store.ensurePath.bind(store);
      const counting: NodeStore = Object.create(store, {
        ensurePath: {
          value: (path: string) => {
            ensured++;
            return ensurePath(path);
          },
        },
      });
      // Act
      await createInFolder(counting, folder, [create(`${folder}/one`, '1'), create(`${folder}/two`, '2')]);
      await createInFolder(counting, folder, [create(`${folder}/three`, '3')]);
      const again = createInFolder(counting, folder, [create(`${folder}/one`, 'again')]);
      // Assess
      await expect(again).rejects.toMatchObject({ reason: 'NodeExists' });
      expect((await store.children(folder)).sort()).toEqual(['one', 'three', 'two']);
      expect(await store.get(`${folder}/one`)).toMatchObject({ data: '1' });
      expect(ensured).toBe(1);
    });

    it('create stores data at version 0 and each set increments the version by one', async () => {
      // Prepare
      const path = `${root}/node`;
      await store.commit([create(path, '{"used":0,"count":10}')]);
      const created = await store.get(path);
      // Act
      await store.commit([{ op: 'set', path, data: '{"used":1,"count":10}', version: 0 }]);
      await store.commit([{ op: 'set', path, data: '{"used":2,"count":10}', version: 1 }]);
      // Assess
      expect(created).toEqual({ path, data: '{"used":0,"count":10}', version: 0 });
      expect(await store.get(path)).toEqual({ path, data: '{"used":2,"count":10}', version: 2 });
    });

    it('get of a missing node is undefined', async () => {
      expect(await store.get(`${root}/missing`)).toBeUndefined();
    });

    it('children are the sorted child names, [] for a leaf and for a missing node', async () => {
      // Prepare
      const parent = `${root}/Thing`;
      // Act
      await store.commit([
        create(parent, ''),
        ...['b', '10', 'a', '2', '0'].map((name) => create(`${parent}/${name}`, '')),
      ]);
      // Assess
      expect(await store.children(parent)).toEqual(['0', '10', '2', 'a', 'b']);
      expect(await store.children(`${parent}/a`)).toEqual([]);
      expect(await store.children(`${root}/missing`)).toEqual([]);
    });

    it('creating an existing node fails with NodeExists and writes nothing of the multi', async () => {
      // Prepare
      const existing = `${root}/existing`;
      await store.commit([create(existing, 'old')]);
      // Act
      const attempt = store.commit([
        create(`${root}/fresh`, 'new'),
        { op: 'set', path: existing, data: 'changed', version: 0 },
        create(existing, 'again'),
      ]);
      // Assess
      await expectConflict(attempt, 'NodeExists', existing);
      expect(await store.get(`${root}/fresh`)).toBeUndefined();
      expect(await store.get(existing)).toEqual({ path: existing, data: 'old', version: 0 });
    });

    it('a set with a stale version fails with BadVersion and an earlier create of the multi does not happen', async () => {
      // Prepare
      const path = `${root}/resources`;
      await store.commit([create(path, '{"ids":[]}')]);
      await store.commit([{ op: 'set', path, data: '{"ids":["a"]}', version: 0 }]);
      // Act
      const attempt = store.commit([
        create(`${root}/_reload`, '{"times":1}'),
        { op: 'set', path, data: '{"ids":["b"]}', version: 0 },
      ]);
      // Assess
      await expectConflict(attempt, 'BadVersion', path);
      expect(await store.get(`${root}/_reload`)).toBeUndefined();
      expect(await store.get(path)).toEqual({ path, data: '{"ids":["a"]}', version: 1 });
    });

    it('check passes at the current version and fails at a stale one (version 0 included) without writing', async () => {
      // Prepare
      const guard = `${root}/guard`;
      await store.commit([create(guard, 'g')]);
      await store.commit([{ op: 'set', path: guard, data: 'g1', version: 0 }]);
      // Act
      await store.commit([{ op: 'check', path: guard, version: 1 }, create(`${root}/allowed`, '')]);
      const stale = store.commit([{ op: 'check', path: guard, version: 0 }, create(`${root}/refused`, '')]);
      // Assess
      await expectConflict(stale, 'BadVersion', guard);
      expect(await store.get(`${root}/allowed`)).toBeDefined();
      expect(await store.get(`${root}/refused`)).toBeUndefined();
      expect(await store.get(guard)).toEqual({ path: guard, data: 'g1', version: 1 });
    });

    it('removing a node that has children fails with NotEmpty and keeps the subtree', async () => {
      // Prepare
      const parent = `${root}/0`;
      await store.commit([create(parent, 'p'), create(`${parent}/tmp`, '')]);
      // Act
      const attempt = store.commit([{ op: 'remove', path: parent, version: ANY_VERSION }]);
      // Assess
      await expectConflict(attempt, 'NotEmpty', parent);
      expect(await store.get(parent)).toEqual({ path: parent, data: 'p', version: 0 });
      expect(await store.children(parent)).toEqual(['tmp']);
    });

    it('create under a missing parent fails with NoNode naming the failing op', async () => {
      // Prepare
      const orphan = `${root}/nowhere/child`;
      // Act
      const attempt = store.commit([create(`${root}/sibling`, ''), create(orphan, 'x')]);
      // Assess
      await expectConflict(attempt, 'NoNode', orphan);
      expect(await store.get(`${root}/sibling`)).toBeUndefined();
      expect(await store.get(orphan)).toBeUndefined();
    });

    it('set, remove and check of a missing node fail with NoNode', async () => {
      const missing = `${root}/missing`;
      await expectConflict(
        store.commit([{ op: 'set', path: missing, data: 'x', version: ANY_VERSION }]),
        'NoNode',
        missing,
      );
      await expectConflict(store.commit([{ op: 'remove', path: missing, version: ANY_VERSION }]), 'NoNode', missing);
      await expectConflict(store.commit([{ op: 'check', path: missing, version: 0 }]), 'NoNode', missing);
      expect(await store.get(missing)).toBeUndefined();
    });

    it('ops of one multi see the effects of the ops before them', async () => {
      // Prepare
      const parent = `${root}/1`;
      // Act
      await store.commit([
        create(parent, '{"used":0,"count":5}'),
        create(`${parent}/resources`, '{"ids":[]}'),
        { op: 'set', path: `${parent}/resources`, data: '{"ids":["t1"]}', version: 0 },
        { op: 'check', path: `${parent}/resources`, version: 1 },
        create(`${parent}/scratch`, ''),
        { op: 'remove', path: `${parent}/scratch`, version: 0 },
        { op: 'set', path: parent, data: '{"used":1,"count":5}', version: 0 },
      ]);
      // Assess
      expect(await store.get(parent)).toEqual({ path: parent, data: '{"used":1,"count":5}', version: 1 });
      expect(await store.get(`${parent}/resources`)).toEqual({
        path: `${parent}/resources`,
        data: '{"ids":["t1"]}',
        version: 1,
      });
      expect(await store.children(parent)).toEqual(['resources']);
    });

    it('getMany answers in the order asked, undefined for missing nodes', async () => {
      // Prepare
      await store.commit([create(`${root}/x`, 'X'), create(`${root}/y`, 'Y')]);
      // Act
      const nodes = await store.getMany([`${root}/y`, `${root}/none`, `${root}/x`, `${root}/y`]);
      // Assess
      expect(nodes).toEqual([
        { path: `${root}/y`, data: 'Y', version: 0 },
        undefined,
        { path: `${root}/x`, data: 'X', version: 0 },
        { path: `${root}/y`, data: 'Y', version: 0 },
      ]);
      expect(await store.getMany([])).toEqual([]);
    });

    it('a watch fires once when its node is set, not again on later sets', async () => {
      // Prepare
      const path = `${root}/_reload`;
      await store.commit([create(path, '{"times":0}')]);
      const first = observe(store, path);
      // Act
      await store.commit([{ op: 'set', path, data: '{"times":1}', version: 0 }]);
      await within(first.fired, 5000, 'the watch call');
      // A second watch proves the next change was observed before we count the first one's calls.
      const control = observe(store, path);
      await store.commit([{ op: 'set', path, data: '{"times":2}', version: 1 }]);
      await within(control.fired, 5000, 'the control watch call');
      // Neither watch may fire for a third set either; the fence proves its calls were all made.
      const third = await fence(store, path, { op: 'set', path, data: '{"times":3}', version: 2 });
      // Assess
      expect(first.calls()).toBe(1);
      expect(control.calls()).toBe(1);
      expect(third.calls()).toBe(1);
    });

    it('a watch fires when its node is removed', async () => {
      // Prepare
      const path = `${root}/doomed`;
      await store.commit([create(path, 'x')]);
      const watched = observe(store, path);
      // Act
      await store.commit([{ op: 'remove', path, version: 0 }]);
      // Assess
      await within(watched.fired, 5000, 'the watch call');
      expect(watched.calls()).toBe(1);
    });

    it('a watch on a missing node fires when the node is created', async () => {
      // Prepare
      const path = `${root}/later`;
      const watched = observe(store, path);
      // Act
      await store.commit([create(path, 'born')]);
      // Assess
      await within(watched.fired, 5000, 'the watch call');
      expect(watched.calls()).toBe(1);
    });

    it('a cancelled watch is never called', async () => {
      // Prepare
      const path = `${root}/quiet`;
      await store.commit([create(path, 'x')]);
      const cancelled = observe(store, path);
      const control = observe(store, path);
      // Act
      cancelled.cancel();
      await store.commit([{ op: 'set', path, data: 'y', version: 0 }]);
      await within(control.fired, 5000, 'the control watch call');
      // A later set, seen by a watch set after the first one, proves no call for it is still on its way.
      await fence(store, path, { op: 'set', path, data: 'z', version: 1 });
      // Assess
      expect(cancelled.calls()).toBe(0);
      expect(control.calls()).toBe(1);
    });

    it('ANY_VERSION sets and removes whatever the version is', async () => {
      // Prepare
      const path = `${root}/any`;
      await store.commit([create(path, 'a')]);
      await store.commit([{ op: 'set', path, data: 'b', version: 0 }]);
      // Act
      await store.commit([{ op: 'set', path, data: 'c', version: ANY_VERSION }]);
      const afterSet = await store.get(path);
      await store.commit([{ op: 'remove', path, version: ANY_VERSION }]);
      // Assess
      expect(afterSet).toEqual({ path, data: 'c', version: 2 });
      expect(await store.get(path)).toBeUndefined();
    });

    it('a removed node can be created again and starts over at version 0', async () => {
      // Prepare
      const path = `${root}/again`;
      await store.commit([create(path, 'one')]);
      await store.commit([{ op: 'set', path, data: 'two', version: 0 }]);
      // Act
      await store.commit([{ op: 'remove', path, version: 1 }, create(path, 'three')]);
      // Assess
      expect(await store.get(path)).toEqual({ path, data: 'three', version: 0 });
    });

    it('a remove with a stale version fails with BadVersion and keeps the node', async () => {
      const path = `${root}/kept`;
      await store.commit([create(path, 'k')]);
      await expectConflict(store.commit([{ op: 'remove', path, version: 3 }]), 'BadVersion', path);
      expect(await store.get(path)).toEqual({ path, data: 'k', version: 0 });
    });

    it('a 5000-id resource list of UUIDs (~200 KB) round-trips through create and set', async () => {
      // Prepare
      const path = `${root}/resources`;
      const first = JSON.stringify({ ids: Array.from({ length: 5000 }, () => randomUUID()) });
      const second = JSON.stringify({ ids: Array.from({ length: 5000 }, () => randomUUID()) });
      // Act
      await store.commit([create(path, first)]);
      const created = await store.get(path);
      await store.commit([{ op: 'set', path, data: second, version: 0 }]);
      // Assess
      expect(first.length).toBeGreaterThan(190_000);
      expect(created?.data).toBe(first);
      const [read] = await store.getMany([path]);
      expect(read?.data).toBe(second);
      expect(read?.version).toBe(1);
    });

    it('unicode data round-trips unchanged', async () => {
      // Prepare
      const path = `${root}/unicode`;
      const data = JSON.stringify({ name: '桥梁监测 — Brücke 🌉', note: 'Ωμέγα ☃ 𝄞', empty: '' });
      // Act
      await store.commit([create(path, data)]);
      // Assess
      expect((await store.get(path))?.data).toBe(data);
    });

    it('a multi of 2000 ops applies all of them, and one failing op at its end applies none', async () => {
      // Prepare
      const bulk = `${root}/bulk`;
      const names = Array.from({ length: 1999 }, (_, index) => `n${index}`);
      // Act
      await store.commit([create(bulk, 'b'), ...names.map((name) => create(`${bulk}/${name}`, name))]);
      const refused = store.commit([
        ...names.map((name): WriteOp => ({ op: 'set', path: `${bulk}/${name}`, data: 'overwritten', version: 0 })),
        { op: 'check', path: bulk, version: 7 },
      ]);
      // Assess
      await expectConflict(refused, 'BadVersion', bulk);
      const children = await store.children(bulk);
      expect(children).toHaveLength(1999);
      const nodes = await store.getMany(children.map((name) => `${bulk}/${name}`));
      expect(nodes.every((node, index) => node?.data === children[index] && node?.version === 0)).toBe(true);
    });

    it('of several writers racing with the same expected version, exactly one wins', async () => {
      // Prepare
      const path = `${root}/contended`;
      await store.commit([create(path, 'start')]);
      // Act
      const outcomes = await Promise.allSettled(
        Array.from({ length: 5 }, (_, writer) =>
          store.commit([{ op: 'set', path, data: `writer ${writer}`, version: 0 }]),
        ),
      );
      // Assess
      const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
      expect(winners).toHaveLength(1);
      expect(losers.every((reason) => reason instanceof ConflictError && reason.reason === 'BadVersion')).toBe(true);
      expect((await store.get(path))?.version).toBe(1);
    });

    it('concurrent read-modify-write increments with withRetry lose no update', async () => {
      // Prepare
      const path = `${root}/counter`;
      await store.commit([create(path, '0')]);
      const increment = () =>
        withRetry(
          async () => {
            const node = await store.get(path);
            if (!node) throw new Error('counter vanished');
            await store.commit([{ op: 'set', path, data: String(Number(node.data) + 1), version: node.version }]);
          },
          { attempts: 100, maxDelayMs: 20 },
        );
      // Act
      await Promise.all(Array.from({ length: 25 }, increment));
      // Assess
      expect(await store.get(path)).toEqual({ path, data: '25', version: 25 });
    });

    it('refuses invalid paths without calling them conflicts', async () => {
      for (const bad of ['relative', `${root}/`, `${root}//x`, `${root}/./x`, `${root}/../x`]) {
        const error = await store.get(bad).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, bad).toBeInstanceOf(TypeError);
      }
      await expect(store.commit([create(`${root}/ok`, ''), create(`${root}/bad/`, '')])).rejects.toBeInstanceOf(
        TypeError,
      );
      expect(await store.get(`${root}/ok`)).toBeUndefined();
      expect(() => store.watch('nope', () => undefined)).toThrow(TypeError);
    });

    it('ping answers while the store is open; after close, operations are refused and close is idempotent', async () => {
      // Prepare
      await store.ping();
      // Act
      await store.close();
      await store.close();
      // Assess
      const error = await store.get(`${root}`).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(Error);
      // Closed is a caller's mistake, not an outage worth retrying.
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect(String(error)).toMatch(/closed/);
    });
  });
}
