import { describe, expect, it } from 'vitest';
import {
  catalogConfigFromEnv,
  catalogPassword,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  qualifiedTableName,
  quoteIdentifier,
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

describe('the catalog password by reference', () => {
  const secrets = (values: Record<string, string>) => ({
    read: async (name: string) => values[name] ?? Promise.reject(new Error(`no secret ${name}`)),
  });

  it('names the secret from CATALOG_PASSWORD_SECRET, beside a URL without password', () => {
    expect(
      catalogConfigFromEnv(KINDS, { CATALOG_URL: 'postgres://orch@db/p', CATALOG_PASSWORD_SECRET: ' iota/catalog ' }),
    ).toMatchObject({ url: 'postgres://orch@db/p', passwordSecret: 'iota/catalog' });
  });

  it('refuses a password in the URL beside a secret, and in a deployed function at all', () => {
    const deployed = { AWS_LAMBDA_FUNCTION_NAME: 'iota-orchestrator-prod-catalog' };
    const bad: [Record<string, string>, RegExp][] = [
      [{ CATALOG_URL: URL_WITH_PASSWORD, CATALOG_PASSWORD_SECRET: 'iota/catalog' }, /names one: give only the secret/],
      [{ CATALOG_URL: URL_WITH_PASSWORD, ...deployed }, /a deployed function reads it from the secret/],
      [{ CATALOG_URL: 'postgres://orch@db/p?password=s3cr3t', ...deployed }, /a deployed function reads it/],
    ];
    for (const [env, message] of bad) {
      expect(() => catalogConfigFromEnv(KINDS, env), JSON.stringify(env)).toThrow(message);
      expect(() => catalogConfigFromEnv(KINDS, env)).not.toThrow(/s3cr3t/);
    }
    // `sls invoke local` runs the deployed code with IS_LOCAL: a local URL may carry its password there.
    expect(catalogConfigFromEnv(KINDS, { CATALOG_URL: URL_WITH_PASSWORD, ...deployed, IS_LOCAL: 'true' })?.url).toBe(
      URL_WITH_PASSWORD,
    );
  });

  it("reads the secret's value, or the password of an RDS secret's JSON", async () => {
    const config = catalogConfigFromEnv(KINDS, { CATALOG_URL: 'postgres://orch@db/p', CATALOG_PASSWORD_SECRET: 's' })!;

    expect(await catalogPassword(config, secrets({ s: 'pl{ain' }))).toBe('pl{ain');
    expect(await catalogPassword(config, secrets({ s: '{"username":"orch","password":"r0tated","port":5432}' }))).toBe(
      'r0tated',
    );
    expect(await catalogPassword({ ...config, passwordSecret: undefined }, secrets({}))).toBeUndefined();
  });

  it('refuses JSON without a password, without quoting the secret', async () => {
    const config = catalogConfigFromEnv(KINDS, { CATALOG_URL: 'postgres://orch@db/p', CATALOG_PASSWORD_SECRET: 's' })!;

    await expect(catalogPassword(config, secrets({ s: '{"pass":"s3cr3t"}' }))).rejects.toThrow(
      /^the secret "s" \(CATALOG_PASSWORD_SECRET\) is JSON without a string "password"$/,
    );
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
