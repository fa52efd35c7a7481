/**
 * The PostgreSQL catalog adapter against the real server of the global setup.
 * This file works in a database of its own, whose text columns sort with an ICU
 * en-US collation, as a platform database in a real locale would: case and
 * punctuation are ignored at first there, so only an explicit "C" order gives
 * the JavaScript order the sorted merge needs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CatalogTable, catalogConfigFromEnv } from '../../lib/catalog/port.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-database.js';
import {
  catalogQueries,
  openPostgresCatalog,
  PostgresCatalog,
  type PostgresCatalogOptions,
} from '../../lib/catalog/postgres.js';

let database: TestDatabase;
let databaseUrl: string;

let admin: pg.Client;
let db: pg.Client;
const opened: PostgresCatalog[] = [];

const TABLES: Record<string, CatalogTable> = {
  Thing: { table: 'Thing', idColumn: 'id' },
  Rule: { table: 'Rule', idColumn: 'id' },
};

function catalog(options: Partial<PostgresCatalogOptions> = {}): PostgresCatalog {
  const opened1 = new PostgresCatalog({ url: databaseUrl, tables: TABLES, ...options });
  opened.push(opened1);
  return opened1;
}

/** Every id of `resource`, page by page, checking each page's bounds on the way. */
async function readAll(port: PostgresCatalog, resource: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await port.page(resource, after, limit);
    expect(page.length).toBeLessThanOrEqual(limit);
    if (after !== undefined) for (const id of page) expect(id > after).toBe(true);
    ids.push(...page);
    if (page.length < limit) return ids;
    after = page.at(-1);
  }
}

/**
 * The plan of one of the adapter's statements, with sequential scans priced out: an index
 * that can serve it appears as `Index (Only) Scan using <index>`, with no Sort above.
 */
async function planOf(sql: string, values: unknown[]): Promise<string> {
  await db.query('SET enable_seqscan = off');
  try {
    const result = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values);
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await db.query('RESET enable_seqscan');
  }
}

/** Whether the plan reads `index` in order (or looks ids up in it) instead of scanning and sorting. */
const usesIndex = (plan: string, index: string): boolean =>
  new RegExp(`Index (Only )?Scan using "?${index}"?`).test(plan) && !plan.includes('Sort');

/** Whether the plan finds the rows through a condition on `index` (index or bitmap scan), not by a filter on every row. */
const looksUpIn = (plan: string, index: string): boolean => plan.includes(`"${index}"`) && plan.includes('Index Cond');

const jsSorted = (ids: readonly string[]): string[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

async function insert(table: string, ids: readonly string[]): Promise<void> {
  await db.query(`INSERT INTO "${table}" (id) SELECT unnest($1::text[])::${table === 'Thing' ? 'uuid' : 'text'}`, [
    ids,
  ]);
}

/** Ids that differ only in case, in '-' / '_' / '.' / ':', and in digits: where collations disagree. */
const TRICKY_IDS = [
  'a',
  'A',
  'b',
  'B',
  'aa',
  'aA',
  'Aa',
  'AA',
  'a-1',
  'a_1',
  'a.1',
  'a:1',
  'a1',
  'A1',
  'A-1',
  'A_1',
  'a-2',
  'a10',
  'a2',
  'a-b',
  'a_b',
  'ab',
  'aB',
  '-a',
  '_a',
  '0',
  '9',
  '10',
  '1-0',
  '1_0',
  'z',
  'Z',
  'thing-001',
  'Thing-002',
  'thing_003',
  'THING-004',
];

beforeAll(async () => {
  database = await createTestDatabase(inject('pgUrl'), 'catalog');
  ({ db, admin, url: databaseUrl } = database);
  await db.query(`CREATE COLLATION en_icu (provider = icu, locale = 'en-US')`);
  await db.query('CREATE TABLE "Thing" (id uuid PRIMARY KEY, name text)');
  await db.query('CREATE TABLE "Rule" (id text COLLATE en_icu PRIMARY KEY, body text)');
  await insert('Rule', TRICKY_IDS);
});

afterAll(async () => {
  await Promise.all(opened.map((port) => port.close()));
  await database?.drop();
});

describe('PostgresCatalog.page', () => {
  it('returns nothing for an empty table, from the start and after any id', async () => {
    await db.query('CREATE TABLE "Empty" (id text PRIMARY KEY)');
    const port = catalog({ tables: { Thing: { table: 'Empty', idColumn: 'id' } } });
    expect(await port.page('Thing', undefined, 10)).toEqual([]);
    expect(await port.page('Thing', 'a', 10)).toEqual([]);
    expect(await port.existing('Thing', ['a', 'b'])).toEqual(new Set());
  });

  it('pages text ids in JavaScript order under a collation that sorts differently, each exactly once', async () => {
    // The premise: the column's own order is not JavaScript's.
    const serverOrder = (await db.query<{ id: string }>('SELECT id FROM "Rule" ORDER BY id')).rows.map((r) => r.id);
    expect(serverOrder).not.toEqual(jsSorted(TRICKY_IDS));

    const port = catalog();
    for (const limit of [1, 2, 3, 7, TRICKY_IDS.length, TRICKY_IDS.length + 1, 5000]) {
      expect(await readAll(port, 'Rule', limit), `limit ${limit}`).toEqual(jsSorted(TRICKY_IDS));
    }
    // Keyset from any string, present or not.
    expect(await port.page('Rule', 'a', 3)).toEqual(
      jsSorted(TRICKY_IDS)
        .filter((id) => id > 'a')
        .slice(0, 3),
    );
    expect(await port.page('Rule', 'a-', 100)).toEqual(jsSorted(TRICKY_IDS).filter((id) => id > 'a-'));
    expect(await port.page('Rule', 'zz', 100)).toEqual([]);
  });

  it('pages uuid ids (using the primary key) in JavaScript order across page boundaries', async () => {
    const ids = Array.from({ length: 2_345 }, () => randomUUID());
    // Boundary values: all-zero and all-f, and neighbours that differ in one nibble on each side of 9/a.
    ids.push(
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '99999999-9999-4999-9999-999999999999',
      'a0000000-0000-4000-8000-000000000000',
      '9fffffff-ffff-4fff-bfff-ffffffffffff',
    );
    await insert('Thing', ids);
    const port = catalog();
    const all = await readAll(port, 'Thing', 100);
    expect(all).toEqual(jsSorted(ids));
    expect(new Set(all).size).toBe(ids.length);

    const queries = catalogQueries(TABLES.Thing!, 'uuid');
    expect(usesIndex(await planOf(queries.firstPage, [100]), 'Thing_pkey')).toBe(true);
    expect(usesIndex(await planOf(queries.pageUuid!, [ids[0], 100]), 'Thing_pkey')).toBe(true);
    expect(looksUpIn(await planOf(queries.existing, [ids.slice(0, 10)]), 'Thing_pkey')).toBe(true);

    // A keyset start that is not a canonical uuid still compares as text.
    const sorted = jsSorted(ids);
    expect(await port.page('Thing', '-', 3)).toEqual(sorted.slice(0, 3));
    expect(await port.page('Thing', 'A', 3)).toEqual(sorted.filter((id) => id > 'A').slice(0, 3));
    // An upper-case uuid (not canonical) sorts before every lower-case letter, as in JavaScript.
    const upper = sorted.find((id) => /^[a-f]/.test(id))!.toUpperCase();
    expect(await port.page('Thing', upper, 2)).toEqual(sorted.filter((id) => id > upper).slice(0, 2));
    expect(await port.page('Thing', '9', 2)).toEqual(sorted.filter((id) => id > '9').slice(0, 2));
    expect(await port.page('Thing', 'g', 2)).toEqual([]);
  });

  it('pages a text column through an index sorting in "C", when there is one', async () => {
    await db.query('CREATE TABLE "Indexed" (id text COLLATE en_icu PRIMARY KEY)');
    await db.query('CREATE INDEX "Indexed_id_c" ON "Indexed" (id COLLATE "C")');
    const ids = [...TRICKY_IDS, ...Array.from({ length: 500 }, (_, i) => `t-${i}`)];
    await db.query('INSERT INTO "Indexed" SELECT unnest($1::text[])', [ids]);
    // The premise: without such an index (the primary key sorts in en-US) a page scans the table.
    expect(usesIndex(await planOf(catalogQueries(TABLES.Rule!, 'text').pageText, ['a', 100]), 'Rule_pkey')).toBe(false);
    const queries = catalogQueries({ table: 'Indexed', idColumn: 'id' }, 'text');
    expect(usesIndex(await planOf(queries.firstPage, [100]), 'Indexed_id_c')).toBe(true);
    expect(usesIndex(await planOf(queries.pageText, ['a', 100]), 'Indexed_id_c')).toBe(true);
    expect(looksUpIn(await planOf(queries.existing, [['a', 'b']]), 'Indexed_pkey')).toBe(true);
    const port = catalog({ tables: { Rule: { table: 'Indexed', idColumn: 'id' } } });
    expect(await readAll(port, 'Rule', 50)).toEqual(jsSorted(ids));
  });

  it('reads a table in another schema, with another id column', async () => {
    await db.query('CREATE SCHEMA platform');
    await db.query('CREATE TABLE platform.devices ("deviceId" text PRIMARY KEY)');
    await db.query(`INSERT INTO platform.devices VALUES ('d-2'), ('D-1'), ('d_3')`);
    const port = catalog({ tables: { Thing: { schema: 'platform', table: 'devices', idColumn: 'deviceId' } } });
    expect(await port.page('Thing', undefined, 10)).toEqual(['D-1', 'd-2', 'd_3']);
    expect(await port.existing('Thing', ['d-2', 'd-1'])).toEqual(new Set(['d-2']));
  });

  it('rejects a bad limit and an unconfigured kind', async () => {
    const port = catalog();
    await expect(port.page('Rule', undefined, 0)).rejects.toThrow(/positive integer/);
    await expect(port.page('Rule', undefined, 1.5)).rejects.toThrow(/positive integer/);
    await expect(port.page('Gadget', undefined, 10)).rejects.toThrow(/no catalog table is configured for "Gadget"/);
  });
});

describe('PostgresCatalog.existing', () => {
  it('tells present from absent text ids, exactly (case, punctuation)', async () => {
    const port = catalog();
    const asked = ['a', 'A', 'a-1', 'a_2', 'thing-001', 'THING-001', 'missing', 'Z'];
    expect(await port.existing('Rule', asked)).toEqual(new Set(['a', 'A', 'a-1', 'thing-001', 'Z']));
    expect(await port.existing('Rule', [])).toEqual(new Set());
  });

  it('tells present from absent uuids; other spellings of a present uuid and non-uuids are absent', async () => {
    const present = randomUUID();
    await insert('Thing', [present]);
    const port = catalog();
    const absent = randomUUID();
    const result = await port.existing('Thing', [present, absent, present.toUpperCase(), 'not-a-uuid', '']);
    expect(result).toEqual(new Set([present]));
    expect(await port.existing('Thing', ['not-a-uuid'])).toEqual(new Set());
  });

  it('is exact on a column whose collation ignores case', async () => {
    await db.query(`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`);
    await db.query('CREATE TABLE "CaseBlind" (id text COLLATE ci PRIMARY KEY)');
    await db.query(`INSERT INTO "CaseBlind" VALUES ('Abc'), ('x')`);
    const port = catalog({ tables: { Rule: { table: 'CaseBlind', idColumn: 'id' } } });
    expect(await port.existing('Rule', ['abc', 'Abc', 'X'])).toEqual(new Set(['Abc']));
    expect(await readAll(port, 'Rule', 1)).toEqual(['Abc', 'x']);
  });
});

describe('PostgresCatalog errors', () => {
  it('says clearly when the table or the id column does not exist, and recovers once the table exists', async () => {
    const port = catalog({
      tables: { Thing: { table: 'NotYet', idColumn: 'id' }, Rule: { table: 'Rule', idColumn: 'uid' } },
    });
    await expect(port.page('Thing', undefined, 10)).rejects.toThrow(
      /catalog table "NotYet" for Thing does not exist .*postgresql catalog postgresql:\/\/postgres@127\.0\.0\.1/,
    );
    await expect(port.existing('Thing', ['a'])).rejects.toThrow(/does not exist/);
    await expect(port.page('Rule', undefined, 10)).rejects.toThrow(/catalog table "Rule" for Rule has no column "uid"/);

    await db.query(`CREATE TABLE "NotYet" (id text PRIMARY KEY); INSERT INTO "NotYet" VALUES ('late')`);
    expect(await port.page('Thing', undefined, 10)).toEqual(['late']);
  });

  it('rejects injection through identifiers before any SQL is sent', async () => {
    await db.query('CREATE TABLE x (id int)');
    const evil = 'Thing"; drop table x; --';
    expect(() => catalog({ tables: { Thing: { table: evil, idColumn: 'id' } } })).toThrow(
      /not an accepted SQL identifier/,
    );
    expect(() => catalog({ tables: { Thing: { table: 'Thing', idColumn: evil } } })).toThrow(
      /not an accepted SQL identifier/,
    );
    expect(() => catalog({ tables: { Thing: { schema: evil, table: 'Thing', idColumn: 'id' } } })).toThrow(
      /not an accepted SQL identifier/,
    );
    expect(() =>
      catalogConfigFromEnv([{ resource: 'Thing' }], {
        CATALOG_URL: databaseUrl,
        CATALOG_TABLES: JSON.stringify({ Thing: { table: evil } }),
      }),
    ).toThrow(/^CATALOG_TABLES is invalid at Thing\.table: /);
    expect((await db.query(`SELECT to_regclass('x') IS NOT NULL AS present`)).rows[0]).toEqual({ present: true });
  });

  it('gives a clear error, naming the kind and not the password, when the statement times out', async () => {
    await db.query(`CREATE VIEW "Slow" AS SELECT 'a'::text AS id FROM pg_sleep(5)`);
    const port = catalog({
      url: databaseUrl.replace('postgres@', 'postgres:hunter2@'),
      statementTimeoutMs: 200,
      tables: { Thing: { table: 'Slow', idColumn: 'id' } },
    });
    const error = await port.page('Thing', undefined, 10).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/catalog query for Thing failed on .*statement timeout.*\(57014\)/);
    expect(error?.message).not.toContain('hunter2');
  });

  it('fails without the password in the message when the server is unreachable', async () => {
    const unreachable = new URL(databaseUrl);
    unreachable.port = '1';
    unreachable.password = 'hunter2';
    const port = catalog({ url: unreachable.toString(), connectTimeoutMs: 2000 });
    const error = await port.page('Rule', undefined, 1).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/catalog query for Rule failed on postgresql catalog .*:\*\*\*@127\.0\.0\.1:1\//);
    expect(error?.message).not.toContain('hunter2');
  });
});

describe('PostgresCatalog connection', () => {
  it('asks for TLS when the URL says so (this test server has none) and not when it says disable', async () => {
    const tls = catalog({ url: `${databaseUrl}?sslmode=verify-full` });
    await expect(tls.page('Rule', undefined, 1)).rejects.toThrow(/does not support SSL/);
    const plain = catalog({ url: `${databaseUrl}?sslmode=disable` });
    expect(await plain.page('Rule', undefined, 1)).toEqual([jsSorted(TRICKY_IDS)[0]]);
  });

  it('logs in with the password from the URL or given apart, and never shows it', async () => {
    // A member of password_users: the test server makes it give its password (scram).
    const role = `reader_${randomBytes(3).toString('hex')}`;
    const password = 'p@ss/w%rd:s3cr3t?#';
    await admin.query(`CREATE ROLE ${role} LOGIN IN ROLE password_users PASSWORD '${password}'`);
    await db.query(`GRANT SELECT ON "Rule" TO ${role}`);
    const userUrl = databaseUrl.replace('postgres@', `${role}@`);

    const inUrl = new URL(userUrl);
    inUrl.password = encodeURIComponent(password);
    const port = catalog({ url: inUrl.toString() });
    expect(port.description).toBe(`postgresql catalog ${databaseUrl.replace('postgres@', `${role}:***@`)}`);
    expect(await port.existing('Rule', ['a', 'nope'])).toEqual(new Set(['a']));

    const apart = openPostgresCatalog({ url: userUrl, tables: TABLES, statementTimeoutMs: 5000 }, password);
    opened.push(apart);
    expect(apart.description).toBe(port.description);
    expect(await apart.page('Rule', undefined, 1)).toEqual([jsSorted(TRICKY_IDS)[0]]);

    const wrong = catalog({ url: userUrl, password: 'wrong-s3cr3t' });
    const error = await wrong.page('Rule', undefined, 1).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/password authentication failed/);
    expect(error?.message).not.toContain('s3cr3t');
    expect(wrong.description).not.toContain('s3cr3t');

    const inQuery = catalog({ url: `${databaseUrl}?password=s3cr3t-pa55&sslmode=disable` });
    expect(inQuery.description).not.toContain('s3cr3t');
    expect(inQuery.description).toContain('password=***');
  });

  it('closes idempotently and refuses queries afterwards', async () => {
    const port = catalog();
    expect(await port.page('Rule', undefined, 1)).toHaveLength(1);
    await port.close();
    await port.close();
    await expect(port.page('Rule', undefined, 1)).rejects.toThrow(/is closed/);
  });
});
