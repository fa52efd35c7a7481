/**
 * Catalog passes on a real store and a real PostgreSQL catalog: lost creates and deletes healed, a delete
 * that arrived before its create healed, rows created during a pass never
 * removed, an empty table held back by the mass-deletion guard (with its
 * alert), a second pass that changes nothing and writes no more than its
 * lease and result, pending ids known, extras removed list by list, and
 * passes stopped in the middle resumed from their checkpoints.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { openPostgresCatalog } from '../../../lib/catalog/postgres.js';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import type { CatalogReader } from '../../../lib/orchestration/types.js';
import type { WriteOp } from '../../../lib/store/port.js';
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
  /** Every op the store commits from now on (a commit the store refuses wrote nothing, and is not recorded). */
  const recordWrites = (): WriteOp[] => {
    const written: WriteOp[] = [];
    const commit = t.store.commit.bind(t.store);
    t.store.commit = async (ops) => {
      await commit(ops);
      written.push(...ops);
    };
    return written;
  };
  /** A kind at its maximum (3 instances of 2) holding a0-a2 and b0-b2, with c0 and c1 kept pending. */
  const fullKindWithPending = async (): Promise<void> => {
    await t.app.orchestrator.assign('Thing', ['a0', 'a1', 'a2']);
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }, 'op');
    await t.app.orchestrator.assign('Thing', ['b0', 'b1', 'b2', 'c0', 'c1']);
  };

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

  it('writes nothing but its lease and its result when nothing drifted, however many pages it reads', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    const catalog = newCatalog();
    await catalog.add(...ids('thing', 300));
    await t.app.orchestrator.assign('Thing', ids('thing', 300));
    const options = { holder: 'test', pageSize: 20, checkpointEveryPages: 1 };
    const written = recordWrites();

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, options);

    expect(pass).toMatchObject({ status: 'done', scanned: 300, missing: 0, extra: 0, healed: 0 });
    expect(catalog.pages).toBe(16);
    const { layout } = t.app.orchestrator;
    // Taken (created), the result (created), released (removed): no list, index, _reload or checkpoint node.
    expect(written.map((op) => `${op.op} ${op.path}`)).toEqual([
      `create ${layout.lease('catalog-Thing')}`,
      `create ${layout.catalogPass('Thing')}`,
      `remove ${layout.lease('catalog-Thing')}`,
    ]);
  });

  it('counts pending ids as known: none is missing, and a pass writes nothing for them', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    await fullKindWithPending();
    const catalog = newCatalog();
    await catalog.add('a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0', 'c1');
    const written = recordWrites();

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test' });

    expect(pass).toMatchObject({ status: 'done', assigned: 8, missing: 0, extra: 0, healed: 0 });
    expect(await t.app.orchestrator.pendingIds('Thing')).toEqual(['c0', 'c1']);
    expect(
      written.filter(
        (op) => !op.path.includes('/leases/') && op.path !== t.app.orchestrator.layout.catalogPass('Thing'),
      ),
    ).toEqual([]);
  });

  it('forgets a pending id whose row is gone from the catalog', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    await fullKindWithPending();
    const catalog = newCatalog();
    await catalog.add('a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0');

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test', maxRemoveFraction: 0.5 });

    expect(pass).toMatchObject({ status: 'done', missing: 0, extra: 1, healed: 1 });
    expect(await t.app.orchestrator.pendingIds('Thing')).toEqual(['c0']);
    expect(await assignedIds()).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
  });

  it('removes extras spread over every instance rewriting each list once', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 4 }, 'op');
    // 600 extras (more than one unassign batch of 500) spread over the 4 instances, among 600 live rows.
    await t.app.orchestrator.assign(
      'Thing',
      ids('gone', 600).flatMap((gone, i) => [gone, ids('keep', 600)[i]!]),
    );
    const catalog = newCatalog();
    await catalog.add(...ids('keep', 600));
    const owners = new Set(
      (await t.app.orchestrator.read('Thing'))
        .filter((i) => i.ids.some((id) => id.startsWith('gone')))
        .map((i) => i.id),
    );
    const written = recordWrites();

    const pass = await t.app.orchestrator.catalogPass('Thing', catalog, { holder: 'test', maxRemoveFraction: 0.5 });

    expect(owners.size).toBe(4);
    expect(pass).toMatchObject({ status: 'done', extra: 600, healed: 600 });
    expect(await assignedIds()).toEqual(ids('keep', 600));
    const rewrites = written.filter((op) => op.op === 'set' && op.path.endsWith('/resources')).map((op) => op.path);
    expect(rewrites.sort()).toEqual([...owners].map((id) => t.app.orchestrator.layout.resources('Thing', id)).sort());
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

  it('saves where it got after a minute of reading with nothing to heal, and a stopped pass resumes there', async () => {
    let now = Date.UTC(2026, 0, 1);
    t = await openTestApp(adapter, { label: 'catalog', clock: () => now });
    const catalog = newCatalog();
    await catalog.add(...ids('thing', 300));
    await t.app.orchestrator.assign('Thing', ids('thing', 300));
    // Each page takes 30 s (a slow catalog), and the pass dies reading its fifth: a Lambda timeout.
    catalog.onPage = async (page) => {
      now += 30_000;
      if (page === 5) throw new Error('timed out');
    };
    const options = { holder: 'test', pageSize: 50 };

    await expect(t.app.orchestrator.catalogPass('Thing', catalog, options)).rejects.toThrow('timed out');
    const checkpoint = await t.app.store.get(t.app.orchestrator.layout.catalogCheckpoint('Thing'));
    const read = catalog.pages;
    catalog.onPage = async () => {
      now += 30_000;
    };
    const resumed = await t.app.orchestrator.catalogPass('Thing', catalog, options);

    // Saved after pages 2 and 4 (a minute each): the resumed pass reads 5, 6 and the empty last page.
    expect(JSON.parse(checkpoint!.data)).toMatchObject({ after: 'thing-0199', scanned: 200, missing: 0 });
    expect(catalog.pages - read).toBe(3);
    expect(resumed).toMatchObject({ status: 'done', scanned: 300, missing: 0, extra: 0, healed: 0 });
    expect(await t.app.store.get(t.app.orchestrator.layout.catalogCheckpoint('Thing'))).toBeUndefined();
  });

  it('skips while another pass holds the kind', async () => {
    t = await openTestApp(adapter, { label: 'catalog' });
    await t.app.orchestrator.acquireLease('catalog-Thing', 'elsewhere', 60_000);

    const pass = await t.app.orchestrator.catalogPass('Thing', newCatalog(), { holder: 'test' });

    expect(pass).toMatchObject({ status: 'skipped', reason: 'a pass by elsewhere is running' });
  });
});
