/**
 * The catalog function as Lambda calls it (IS_LOCAL: a fresh App per
 * invocation, on an embedded store of its own), against a real PostgreSQL
 * catalog: off without CATALOG_URL; a pass per kind when due, none when not;
 * a bulk create without keys (through notify) asks for a pass that places
 * the rows it created.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { handler } from '../../../functions/catalog.js';
import { handler as notify } from '../../../functions/notify.js';
import { createApp } from '../../../lib/app.js';
import { silentLogger } from '../../../lib/log.js';
import { createTestDatabase, type TestDatabase } from '../../support/postgres-database.js';

const TICK = { source: 'aws.events', 'detail-type': 'Scheduled Event', time: '2024-05-01T08:00:00Z' };
const saved = { ...process.env };
let dataDir: string;
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(inject('pgUrl'), 'catalog_fn');
  await database.db.query('CREATE TABLE "Thing" (id text COLLATE "C" PRIMARY KEY)');
  await database.db.query('CREATE TABLE "Rule" (id text COLLATE "C" PRIMARY KEY)');
});
afterAll(async () => {
  await database?.drop();
});
beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'catalog-fn-'));
  Object.assign(process.env, { IS_LOCAL: 'true', ORCH_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  delete process.env.ZK_CONNECT;
  delete process.env.CATALOG_URL;
  await database.db.query('TRUNCATE "Thing", "Rule"');
});
afterEach(() => {
  process.env = { ...saved };
  rmSync(dataDir, { recursive: true, force: true });
});

const placed = async (ids: readonly string[]): Promise<Array<string | undefined>> => {
  const app = await createApp(process.env, { logger: silentLogger() });
  try {
    return await Promise.all(ids.map((id) => app.orchestrator.locate('Thing', id)));
  } finally {
    await app.close();
  }
};

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
