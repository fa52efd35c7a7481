/**
 * The catalog function as Lambda calls it (IS_LOCAL: a fresh App per
 * invocation, on an embedded store of its own), against a real PostgreSQL
 * catalog: off without CATALOG_URL; a pass per kind when due, none when not;
 * a bulk create without keys (through notify) asks for a pass that places
 * the rows it created.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { handler } from '../../../functions/catalog.js';
import { handler as notify } from '../../../functions/notify.js';
import { placedOn, useLocalLambdaEnv } from '../../support/lambda-env.js';
import { createTestDatabase, type TestDatabase } from '../../support/postgres-database.js';

const TICK = { source: 'aws.events', 'detail-type': 'Scheduled Event', time: '2024-05-01T08:00:00Z' };
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(inject('pgUrl'), 'catalog_fn');
  await database.db.query('CREATE TABLE "Thing" (id text COLLATE "C" PRIMARY KEY)');
  await database.db.query('CREATE TABLE "Rule" (id text COLLATE "C" PRIMARY KEY)');
});
afterAll(async () => {
  await database?.drop();
});
useLocalLambdaEnv('catalog-fn', {}, ['CATALOG_URL']);
beforeEach(async () => {
  await database.db.query('TRUNCATE "Thing", "Rule"');
});

const placed = (ids: readonly string[]) => placedOn('Thing', ids);

describe('catalog function', () => {
  it('is off without CATALOG_URL, and says so', async () => {
    expect(await handler(TICK)).toEqual({ status: 'off', reason: 'CATALOG_URL is not set: the catalog check is off' });
  });

  it('runs a pass per kind when due and none when not, healing what the catalog has', async () => {
    process.env.CATALOG_URL = database.url;
    await database.db.query(`INSERT INTO "Thing" (id) VALUES ('t-1'), ('t-2')`);

    const first = await handler(TICK);
    const second = await handler(TICK);

    expect(first).toMatchObject({
      status: 'done',
      failed: [],
      passes: [
        { resource: 'Thing', status: 'done', scanned: 2, missing: 2, healed: 2 },
        { resource: 'Rule', status: 'done', scanned: 0 },
      ],
    });
    expect(second).toMatchObject({ status: 'done', passes: [], failed: [] });
    expect(await placed(['t-1', 't-2'])).toEqual([expect.any(String), expect.any(String)]);
  });

  it('places the rows of a bulk create that named no ids, on the next run after notify asked for a pass', async () => {
    process.env.CATALOG_URL = database.url;
    await handler(TICK); // both kinds checked: nothing due for a while
    await database.db.query(`INSERT INTO "Thing" (id) VALUES ('bulk-1'), ('bulk-2')`);

    await notify({ o: 'bc', t: 'Thing' });
    const run = await handler(TICK);

    expect(run).toMatchObject({ status: 'done', passes: [{ resource: 'Thing', missing: 2, healed: 2 }] });
    expect(await placed(['bulk-1', 'bulk-2'])).toEqual([expect.any(String), expect.any(String)]);
    expect(await handler(TICK)).toMatchObject({ passes: [] });
  });
});
