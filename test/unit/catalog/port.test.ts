import { describe, expect, it } from 'vitest';
import {
  catalogConfigFromEnv,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  qualifiedTableName,
  quoteIdentifier,
  redactUrl,
} from '../../../lib/catalog/port.js';

const KINDS = [{ resource: 'Thing' }, { resource: 'Rule' }];
const URL_WITH_PASSWORD = 'postgresql://orch:s3cr3t@db.internal:5432/platform?sslmode=verify-full';

describe('catalogConfigFromEnv', () => {
  it('is off without CATALOG_URL', () => {
    expect(catalogConfigFromEnv(KINDS, {})).toBeUndefined();
    expect(catalogConfigFromEnv(KINDS, { CATALOG_URL: ' ', CATALOG_TABLES: 'not even json' })).toBeUndefined();
  });

  it('defaults every configured kind to its own table and column id', () => {
    expect(catalogConfigFromEnv(KINDS, { CATALOG_URL: URL_WITH_PASSWORD })).toEqual({
      url: URL_WITH_PASSWORD,
      tables: { Thing: { table: 'Thing', idColumn: 'id' }, Rule: { table: 'Rule', idColumn: 'id' } },
      statementTimeoutMs: DEFAULT_STATEMENT_TIMEOUT_MS,
    });
  });

  it('takes per kind table, schema and id column from CATALOG_TABLES, the rest keeping the defaults', () => {
    const config = catalogConfigFromEnv(KINDS, {
      CATALOG_URL: 'postgres://db/platform',
      CATALOG_TABLES: JSON.stringify({ Thing: { schema: 'iot', table: 'devices', idColumn: 'deviceId' } }),
      CATALOG_STATEMENT_TIMEOUT_SECONDS: '2.5',
    });
    expect(config?.tables).toEqual({
      Thing: { schema: 'iot', table: 'devices', idColumn: 'deviceId' },
      Rule: { table: 'Rule', idColumn: 'id' },
    });
    expect(config?.statementTimeoutMs).toBe(2500);
    expect(
      catalogConfigFromEnv(KINDS, { CATALOG_URL: 'postgres://db/p', CATALOG_TABLES: '{"Rule":{"table":"rules"}}' })
        ?.tables.Rule,
    ).toEqual({ table: 'rules', idColumn: 'id' });
  });

  it('names the variable of a bad value, and never repeats the URL', () => {
    const env = (extra: Record<string, string>) => ({ CATALOG_URL: URL_WITH_PASSWORD, ...extra });
    const bad: [Record<string, string>, RegExp][] = [
      [{ CATALOG_URL: 'mysql://orch:s3cr3t@db/platform' }, /^CATALOG_URL is invalid: must be a postgres/],
      [{ CATALOG_URL: 'orch:s3cr3t@db' }, /^CATALOG_URL is invalid/],
      [env({ CATALOG_TABLES: '{' }), /^CATALOG_TABLES is not valid JSON/],
      [env({ CATALOG_TABLES: '[]' }), /^CATALOG_TABLES is invalid at \(root\)/],
      [
        env({ CATALOG_TABLES: '{"Thing":{"table":"Thing","idColumn":"id; --"}}' }),
        /^CATALOG_TABLES is invalid at Thing\.idColumn/,
      ],
      [env({ CATALOG_TABLES: '{"Thing":{"table":"1Thing"}}' }), /^CATALOG_TABLES is invalid at Thing\.table/],
      [env({ CATALOG_TABLES: '{"Thing":{"table":"Thing","colum":"id"}}' }), /^CATALOG_TABLES is invalid at Thing/],
      [
        env({ CATALOG_TABLES: `{"Thing":{"table":"${'t'.repeat(64)}"}}` }),
        /^CATALOG_TABLES is invalid at Thing\.table/,
      ],
      [
        env({ CATALOG_TABLES: '{"Gadget":{"table":"Gadget"}}' }),
        /^CATALOG_TABLES names "Gadget", which is not a configured kind \(Thing, Rule\)/,
      ],
      [env({ CATALOG_STATEMENT_TIMEOUT_SECONDS: 'soon' }), /^CATALOG_STATEMENT_TIMEOUT_SECONDS must be a number/],
      [env({ CATALOG_STATEMENT_TIMEOUT_SECONDS: '0' }), /^CATALOG_STATEMENT_TIMEOUT_SECONDS must be a number/],
    ];
    for (const [vars, message] of bad) {
      let error: Error | undefined;
      try {
        catalogConfigFromEnv(KINDS, vars);
      } catch (e) {
        error = e as Error;
      }
      expect(error?.message, JSON.stringify(vars)).toMatch(message);
      expect(error?.message).not.toContain('s3cr3t');
    }
  });
});

describe('SQL identifiers', () => {
  it('quotes plain identifiers, keeping their case', () => {
    expect(quoteIdentifier('Thing')).toBe('"Thing"');
    expect(quoteIdentifier('_id2')).toBe('"_id2"');
    expect(qualifiedTableName({ table: 'Rule', idColumn: 'id' })).toBe('"Rule"');
    expect(qualifiedTableName({ schema: 'iot', table: 'Rule', idColumn: 'id' })).toBe('"iot"."Rule"');
  });

  it('rejects anything that could leave the quotes, or that PostgreSQL would truncate', () => {
    for (const name of ['Thing"; drop table x; --', 'a"b', 'a.b', 'a b', '', '1a', 'é', 'a-b', 't'.repeat(64)])
      expect(() => quoteIdentifier(name), name).toThrow(/is not an accepted SQL identifier/);
  });
});

describe('redactUrl', () => {
  it('hides the password wherever the URL carries it, and keeps the rest', () => {
    expect(redactUrl(URL_WITH_PASSWORD)).toBe('postgresql://orch:***@db.internal:5432/platform?sslmode=verify-full');
    expect(redactUrl('postgres://orch@db/p?password=s3cr3t&PassWord=x')).toBe(
      'postgres://orch@db/p?password=***&PassWord=***',
    );
    expect(redactUrl('postgres://db/p')).toBe('postgres://db/p');
    expect(redactUrl('::s3cr3t::')).not.toContain('s3cr3t');
  });
});
