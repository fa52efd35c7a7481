/**
 * Catalog passes on a real store: lost creates and deletes healed, a delete
 * that arrived before its create healed, rows created during a pass never
 * removed, an empty table held back by the mass-deletion guard (with its
 * alert), and a second pass that changes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import type { CatalogReader } from '../../../lib/orchestration/types.js';
import { STORE_ADAPTERS } from '../../support/stores.js';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';

/** The catalog as a sorted table the test edits; `onPage` runs after each page is read (rows created meanwhile). */
class TableCatalog implements CatalogReader {
  readonly rows = new Set<string>();
  pages = 0;
  onPage: (page: number) => void = () => undefined;

  async page(_resource: string, after: string | undefined, limit: number): Promise<string[]> {
    const page = [...this.rows]
      .sort()
      .filter((id) => after === undefined || id > after)
      .slice(0, limit);
    this.onPage(++this.pages);
    return page;
  }

  async existing(_resource: string, ids: readonly string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.rows.has(id)));
  }
}

const ids = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

describe.each(STORE_ADAPTERS)('catalog passes on %s', (adapter) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });
  const assignedIds = async (): Promise<string[]> =>
    (await t.app.orchestrator.read('Thing')).flatMap((instance) => instance.ids).sort();

  it('assigns a lost create and unassigns a lost delete, re-checking before removing', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = new TableCatalog();
    for (const id of ids('thing', 200)) catalog.rows.add(id);
    await t.app.orchestrator.assign('Thing', ids('thing', 200).slice(1)); // thing-0000's create was lost
    await t.app.orchestrator.assign('Thing', ['deleted-row']); // its delete was lost

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test', pageSize: 50 });

    expect(pass).toMatchObject({ status: 'done', scanned: 200, missing: 1, extra: 1, healed: 2, heldBack: 0 });
    expect(await assignedIds()).toEqual(ids('thing', 200));
    expect(catalog.pages).toBe(5);
    expect(await t.app.orchestrator.lastCatalogPass('Thing')).toEqual(pass);
  });

  it('heals a delete that arrived before its create: the row exists, so it is placed', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = new TableCatalog();
    catalog.rows.add('late-create');
    await t.app.orchestrator.unassign('Thing', ['late-create']); // the delete, first: nothing to remove

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test' });

    expect(pass).toMatchObject({ missing: 1, healed: 1 });
    expect(await t.app.orchestrator.locate('Thing', 'late-create')).toBeDefined();
  });

  it('never removes a row created during the pass, and places those created in pages still to come', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = new TableCatalog();
    for (const id of ids('a', 100)) catalog.rows.add(id);
    await t.app.orchestrator.assign('Thing', ids('a', 100));
    // Created and assigned (cm/notify) while the pass reads page 1: before and after the page's range.
    catalog.onPage = (page) => {
      if (page !== 1) return;
      catalog.rows.add('a-0000x');
      catalog.rows.add('z-new');
    };
    await t.app.orchestrator.assign('Thing', ['a-0000x', 'z-new']);

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test', pageSize: 30 });

    expect(pass).toMatchObject({ extra: 0, healed: 0 });
    expect(await assignedIds()).toEqual([...ids('a', 100), 'a-0000x', 'z-new'].sort());
  });

  it('holds back when the table is empty: nothing removed, one alert, the pass says why', async () => {
    const alerts = new MemoryAlertPublisher();
    t = await openTestApp(adapter, { label: 'catalog', alerts });
    await t.app.orchestrator.assign('Thing', ids('thing', 100));

    const pass = await t.app.orchestrator.catalogPass('Thing', new TableCatalog(), { holder: 'test' });

    expect(pass).toMatchObject({ status: 'held', extra: 100, heldBack: 100, healed: 0 });
    expect(pass.reason).toContain('none removed');
    expect(await assignedIds()).toEqual(ids('thing', 100));
    expect(alerts.alerts).toMatchObject([{ type: 'catalog-mass-removal', wouldRemove: 100, assigned: 100 }]);
  });

  it('changes nothing when run again, and writes only its result', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = new TableCatalog();
    for (const id of ids('thing', 120)) catalog.rows.add(id);
    await t.app.orchestrator.assign('Thing', ids('thing', 100));
    await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test', pageSize: 50 });
    const commits = t.store.commits;
    const before = await assignedIds();

    const again = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test', pageSize: 50 });

    expect(again).toMatchObject({ status: 'done', missing: 0, extra: 0, healed: 0 });
    expect(await assignedIds()).toEqual(before);
    // The lease taken and released, and the result: no instance written.
    expect(t.store.commits - commits).toBeLessThanOrEqual(3);
  });

  it('skips while another pass holds the kind', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    await t.app.orchestrator.acquireLease('catalog-Thing', 'elsewhere', 60_000);

    const pass = await t.app.orchestrator.catalogPass('Thing', new TableCatalog(), { holder: 'test' });

    expect(pass).toMatchObject({ status: 'skipped', reason: 'a pass by elsewhere is running' });
  });
});
