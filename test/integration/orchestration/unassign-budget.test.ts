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
