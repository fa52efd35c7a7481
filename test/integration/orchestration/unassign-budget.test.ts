/**
 * Unassign rewrites each touched list whole: ids spread over lists that
 * together exceed one multi's byte budget (ZooKeeper refuses a request over
 * its limit) are removed in several multis, every one of them, each id once.
 */
import { afterEach, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

it('removes ids from lists larger together than one multi may carry, in several multis', async () => {
  t = await openTestApp('sqlite', { label: 'unassign-budget' });
  await t.app.orchestrator.orchestrate('Thing', { initInstances: 3 }, 'test');
  // Three lists of 5,000 ids of 40 characters: about 215 KB each, 645 KB together.
  const ids = Array.from({ length: 15_000 }, (_, i) => `resource-${String(i).padStart(31, '0')}`);
  await t.app.orchestrator.assign('Thing', ids);
  const lists = await t.app.orchestrator.read('Thing');
  const onePerList = lists.map((instance) => instance.ids[0]!);
  const commits = t.store.commits;

  const result = await t.app.orchestrator.unassign('Thing', onePerList);

  expect(result.removed.map((placement) => placement.id).sort()).toEqual([...onePerList].sort());
  expect(result.notAssigned).toEqual([]);
  expect(t.store.commits - commits).toBeGreaterThanOrEqual(2);
  const after = await t.app.orchestrator.read('Thing');
  expect(after.map((instance) => instance.used)).toEqual(lists.map((instance) => instance.used - 1));
  for (const id of onePerList) expect(await t.app.orchestrator.locate('Thing', id)).toBeUndefined();
}, 60_000);

it('removes a bulk delete spread over every list owner by owner, rewriting each list about once', async () => {
  t = await openTestApp('sqlite', { label: 'unassign-by-owner' });
  await t.app.orchestrator.orchestrate('Thing', { initInstances: 4 }, 'test');
  const ids = Array.from({ length: 4_000 }, (_, i) => `thing-${String(i).padStart(5, '0')}`);
  await t.app.orchestrator.assign('Thing', ids);
  // Every other id: 2,000 ids, about 500 from each of the 4 lists, interleaved as a `bd` would name them.
  const gone = ids.filter((_, i) => i % 2 === 0);
  const listPaths = new Set(['0', '1', '2', '3'].map((id) => t.app.orchestrator.layout.instance('Thing', id)));
  let listRewrites = 0;
  t.store.failCommit = (ops) => {
    listRewrites += ops.filter((op) => op.op === 'set' && listPaths.has(op.path)).length;
    return undefined;
  };

  const result = await t.app.orchestrator.unassign('Thing', gone);

  expect(result.removed).toHaveLength(gone.length);
  // In the order given, each of the 4 batches of 500 would rewrite all 4 lists: 16 rewrites. Owner by owner, a
  // batch holds about one list's ids: each list once, plus one more wherever a batch ends inside it.
  expect(listRewrites).toBeLessThan(2 * 4);
  const after = await t.app.orchestrator.read('Thing');
  expect(after.reduce((sum, instance) => sum + instance.used, 0)).toBe(2_000);
  expect(after.flatMap((instance) => instance.ids).sort()).toEqual(ids.filter((_, i) => i % 2 === 1));
}, 60_000);
