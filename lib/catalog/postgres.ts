/**
 * The catalog port on PostgreSQL, with `pg`.
 *
 * Order. The sorted merge against the assigned set compares ids with
 * JavaScript's `<`, so the catalog must return them in that order. A text
 * column's own collation (en_US.UTF-8, ICU, ...) does not: it ignores case and
 * punctuation at first ("a-2" < "A_1" < "a1"), which would make the merge
 * report live ids as missing and extra. So ids are compared as text under
 * COLLATE "C": byte order of UTF-8, which is code point order, which is
 * JavaScript's order for every string without characters beyond U+FFFF, and so
 * for every valid resource id (ASCII).
 *
 * Speed. `ORDER BY "id"::text COLLATE "C"` can use an index only if one sorts
 * that way: a text column declared COLLATE "C", or an extra index
 * `CREATE INDEX ON "Thing" ("id" COLLATE "C")`. Without one each page scans the
 * table. A uuid column needs none: uuids compare as their 16 bytes, and their
 * canonical text (lower-case hex, hyphens at fixed places) sorts the same way in
 * "C", so for uuid columns the queries compare the uuid itself and use the
 * primary key (about 20x faster on 500,000 rows).
 *
 * TLS follows the URL's sslmode (and sslrootcert for a private CA such as the
 * RDS bundle); `pg` treats require/verify-ca like verify-full unless the URL
 * says uselibpqcompat=true.
 */
import pg from 'pg';
import {
  type CatalogConfig,
  CatalogError,
  type CatalogPort,
  type CatalogTable,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  qualifiedTableName,
  quoteIdentifier,
} from './port.js';
import { redactUrl } from '../redact.js';

export interface PostgresCatalogOptions extends Omit<CatalogConfig, 'statementTimeoutMs'> {
  statementTimeoutMs?: number;
  /** Overrides the URL's password (e.g. read from Secrets Manager at start-up); never logged. */
  password?: string;
  /** Pool size; the pass issues one query at a time per kind. */
  maxConnections?: number;
  /** How long to wait for a connection before a query fails. */
  connectTimeoutMs?: number;
}

/** Canonical uuid text as PostgreSQL prints it: the only form a uuid column's `::text` can equal. */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface TableQueries {
  /** Keyset page under C order; $1 = after (text), $2 = limit. */
  readonly pageText: string;
  /** First page; $1 = limit. */
  readonly firstPage: string;
  /** uuid columns only: the same page comparing uuids, $1 = after (canonical uuid). */
  readonly pageUuid?: string;
  /** $1 = ids. */
  readonly existing: string;
  readonly uuid: boolean;
}

/** The SQL of one kind's catalog table, by the type of its id column (as format_type prints it). */
export function catalogQueries(table: CatalogTable, idType: string): TableQueries {
  const name = qualifiedTableName(table);
  const column = `${name}.${quoteIdentifier(table.idColumn)}`;
  // Output under its own alias: a bare "id" in ORDER BY would name the output column, not the table's.
  const select = `SELECT ${column}::text AS catalog_id FROM ${name}`;
  const asText = `${column}::text COLLATE "C"`;
  const uuid = idType === 'uuid';
  return {
    uuid,
    firstPage: `${select} WHERE ${column} IS NOT NULL ORDER BY ${uuid ? column : asText} LIMIT $1`,
    pageText: `${select} WHERE ${asText} > $1 ORDER BY ${asText} LIMIT $2`,
    ...(uuid ? { pageUuid: `${select} WHERE ${column} > $1::uuid ORDER BY ${column} LIMIT $2` } : {}),
    existing: uuid
      ? `${select} WHERE ${column} = ANY($1::uuid[])`
      : `${select} WHERE ${column}::text = ANY($1::text[])`,
  };
}

export class PostgresCatalog implements CatalogPort {
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly tables: Readonly<Record<string, CatalogTable>>;
  private readonly queries = new Map<string, Promise<TableQueries>>();
  private closed = false;

  constructor(options: PostgresCatalogOptions) {
    const url = new URL(options.url);
    if (options.password !== undefined) url.password = encodeURIComponent(options.password);
    this.description = `postgresql catalog ${redactUrl(url.toString())}`;
    // Identifiers are checked now: a bad table name is a start-up error, not a failed pass.
    for (const table of Object.values(options.tables)) {
      qualifiedTableName(table);
      quoteIdentifier(table.idColumn);
    }
    this.tables = options.tables;
    this.pool = new pg.Pool({
      connectionString: url.toString(),
      max: options.maxConnections ?? 2,
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
      application_name: 'iota-orchestrator catalog',
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
  }

  async page(resource: string, after: string | undefined, limit: number): Promise<string[]> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`page limit must be a positive integer, got ${limit}`);
    const queries = await this.queriesFor(resource);
    let sql: string;
    let params: unknown[];
    if (after === undefined) [sql, params] = [queries.firstPage, [limit]];
    else if (queries.pageUuid && CANONICAL_UUID.test(after)) [sql, params] = [queries.pageUuid, [after, limit]];
    else [sql, params] = [queries.pageText, [after, limit]];
    const rows = await this.query(resource, sql, params);
    return rows.map((row) => row[0] as string);
  }

  async existing(resource: string, ids: readonly string[]): Promise<Set<string>> {
    const queries = await this.queriesFor(resource);
    // A uuid column's text is always canonical: any other string cannot be in it (and would not cast).
    const candidates = queries.uuid ? ids.filter((id) => CANONICAL_UUID.test(id)) : [...ids];
    if (candidates.length === 0) return new Set();
    const rows = await this.query(resource, queries.existing, [candidates]);
    // Exact strings only: a column with a case-insensitive (nondeterministic) collation matches more.
    const wanted = new Set(candidates);
    return new Set(rows.map((row) => row[0] as string).filter((id) => wanted.has(id)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private tableOf(resource: string): CatalogTable {
    const table = Object.hasOwn(this.tables, resource) ? this.tables[resource] : undefined;
    if (!table) throw new CatalogError(`no catalog table is configured for ${JSON.stringify(resource)}`);
    return table;
  }

  /** Looks up the id column's type once per kind (and turns a missing table or column into a clear error). */
  private queriesFor(resource: string): Promise<TableQueries> {
    let queries = this.queries.get(resource);
    if (!queries) {
      queries = this.prepare(resource);
      this.queries.set(resource, queries);
      // A failure (table not created yet, server down) is retried by the next call.
      queries.catch(() => this.queries.delete(resource));
    }
    return queries;
  }

  private async prepare(resource: string): Promise<TableQueries> {
    const table = this.tableOf(resource);
    const name = qualifiedTableName(table);
    const rows = await this.query(
      resource,
      `SELECT to_regclass($1) IS NOT NULL,
              (SELECT format_type(a.atttypid, NULL) FROM pg_attribute a
                WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped)`,
      [name, table.idColumn],
    );
    const [exists, type] = (rows[0] ?? [false, null]) as [boolean, string | null];
    if (!exists)
      throw new CatalogError(
        `catalog table ${name} for ${resource} does not exist (or is not visible on the search_path) in ${this.description}`,
      );
    if (type === null)
      throw new CatalogError(
        `catalog table ${name} for ${resource} has no column ${quoteIdentifier(table.idColumn)} in ${this.description}`,
      );
    return catalogQueries(table, type);
  }

  private async query(resource: string, text: string, values: unknown[]): Promise<unknown[][]> {
    if (this.closed) throw new CatalogError(`${this.description} is closed`);
    try {
      const result = await this.pool.query<unknown[]>({ text, values, rowMode: 'array' });
      return result.rows;
    } catch (error) {
      if (error instanceof CatalogError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new CatalogError(
        `catalog query for ${resource} failed on ${this.description}: ${(error as Error).message}` +
          (typeof code === 'string' ? ` (${code})` : ''),
        { cause: error },
      );
    }
  }
}

/** Opens the catalog configured by catalogConfigFromEnv. Connects lazily, on the first query. */
export const openPostgresCatalog = (config: CatalogConfig, password?: string): PostgresCatalog =>
  new PostgresCatalog({ ...config, ...(password !== undefined ? { password } : {}) });
