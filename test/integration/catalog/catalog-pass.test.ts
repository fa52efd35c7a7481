/**
 * Catalog passes on a real store and a real PostgreSQL catalog: lost creates and deletes healed, a delete
 * that arrived before its create healed, rows created during a pass never
 * removed, an empty table held back by the mass-deletion guard (with its
 * alert), and a second pass that changes nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { openPostgresCatalog } from '../../../lib/catalog/postgres.js';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import type { CatalogReader } from '../../../lib/orchestration/types.js';
import { createTestDatabase, type TestDatabase } from '../../support/postgres-database.js';
import { STORE_ADAPTERS } from '../../support/stores.js';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';

/**
 * The platform's `"Thing"` table in a real PostgreSQL, one database per test
 * file, read through the catalog's PostgreSQL adapter; `onPage` runs after
 * each page is read (rows created while the pass runs).
 */
class TableCatalog implements CatalogReader {
  pages = 0;
  onPage: (page: number) => Promise<void> = async () => undefined;
  private readonly adapter = openPostgresCatalog({
    url: database.url,
    tables: { Thing: { table: 'Thing', idColumn: 'id' } },
    statementTimeoutMs: 10_000,
  });

  async add(...rows: string[]): Promise<void> {
    if (rows.length > 0) await database.db.query('INSERT INTO "Thing" (id) SELECT unnest($1::text[])', [rows]);
  }

  async page(resource: string, after: string | undefined, limit: number): Promise<string[]> {
    const page = await this.adapter.page(resource, after, limit);
    await this.onPage(++this.pages);
    return page;
  }

  existing(resource: string, ids: readonly string[]): Promise<Set<string>> {
    return this.adapter.existing(resource, ids);
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}

let database: TestDatabase;
const catalogs: TableCatalog[] = [];

beforeAll(async () => {
  database = await createTestDatabase(inject('pgUrl'), 'catalog_pass');
});
afterAll(async () => {
  await Promise.all(catalogs.map((catalog) => catalog.close()));
  await database?.drop();
});
beforeEach(async () => {
  const { db } = database;
  await db.query('DROP TABLE IF EXISTS "Thing"');
  await db.query('CREATE TABLE "Thing" (id text COLLATE "C" PRIMARY KEY, name text)');
});
const newCatalog = (): TableCatalog => {
  const catalog = new TableCatalog();
  catalogs.push(catalog);
  return catalog;
};

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
    const catalog = newCatalog();
    await catalog.add(...ids('thing', 200));
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
    const catalog = newCatalog();
    await catalog.add('late-create');
    await t.app.orchestrator.unassign('Thing', ['late-create']); // the delete, first: nothing to remove

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test' });

    expect(pass).toMatchObject({ missing: 1, healed: 1 });
    expect(await t.app.orchestrator.locate('Thing', 'late-create')).toBeDefined();
  });

  it('never removes a row created during the pass, and places those created in pages still to come', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = newCatalog();
    await catalog.add(...ids('a', 100));
    await t.app.orchestrator.assign('Thing', ids('a', 100));
    // Created and assigned (cm/notify) while the pass reads page 1: before and after the page's range.
    catalog.onPage = async (page) => {
      if (page === 1) await catalog.add('a-0000x', 'z-new');
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

    const pass = await t.app.orchestrator.catalogPass('Thing', newCatalog(), { holder: 'test' });

    expect(pass).toMatchObject({ status: 'held', extra: 100, heldBack: 100, healed: 0 });
    expect(pass.reason).toContain('none removed');
    expect(await assignedIds()).toEqual(ids('thing', 100));
    expect(alerts.alerts).toMatchObject([{ type: 'catalog-mass-removal', wouldRemove: 100, assigned: 100 }]);
  });

  it('changes nothing when run again, and writes only its result', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = newCatalog();
    await catalog.add(...ids('thing', 120));
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

  it('resumes a pass stopped in the middle from its checkpoint, reading no page twice, and heals everything', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = newCatalog();
    await catalog.add(...ids('thing', 300));
    await t.app.orchestrator.assign('Thing', [...ids('thing', 300).filter((_, i) => i % 50 !== 0), 'gone-a', 'gone-z']);
    // The pass dies after its third page: a Lambda timeout or a kill.
    catalog.onPage = async (page) => {
      if (page === 3) throw new Error('killed');
    };
    const options = { holder: 'test', pageSize: 50, checkpointEveryPages: 1 };

    await expect(t.app.orchestrator.catalogPass('Thing', catalog, options)).rejects.toThrow('killed');
    const read = catalog.pages;
    catalog.onPage = async () => undefined;
    const resumed = await t.app.orchestrator.catalogPass('Thing', catalog, options);

    // Pages 1 and 2 were checkpointed: the resumed pass reads 3 to 7 (300 rows, then the empty last page).
    expect(catalog.pages - read).toBe(5);
    expect(resumed).toMatchObject({ status: 'done', scanned: 300, missing: 6, extra: 2, healed: 8 });
    expect(await assignedIds()).toEqual(ids('thing', 300));
    expect(await t.app.store.get(t.app.orchestrator.layout.catalogCheckpoint('Thing'))).toBeUndefined();
  });

  it('skips while another pass holds the kind', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    await t.app.orchestrator.acquireLease('catalog-Thing', 'elsewhere', 60_000);

    const pass = await t.app.orchestrator.catalogPass('Thing', newCatalog(), { holder: 'test' });

    expect(pass).toMatchObject({ status: 'skipped', reason: 'a pass by elsewhere is running' });
  });
});
