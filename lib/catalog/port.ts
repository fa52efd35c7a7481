/**
 * The platform's catalog of resources (SPEC §5 "Anti-entropy"): one table per
 * kind whose id column lists every resource that should exist. The anti-entropy
 * pass reads it in id order and compares it with the assigned set by a sorted
 * merge, so the order of `page` is part of the contract.
 */
import * as z from 'zod';
import type { KindConfig } from '../config/kinds.js';

export interface CatalogPort {
  /** Where the catalog is, for logs and status: never the password. */
  readonly description: string;
  /**
   * Up to `limit` ids of the kind's table greater than `after` (undefined: from the start), ascending.
   * Keyset pagination: WHERE id > $1 ORDER BY id LIMIT $2. Ids are compared as text in the order of
   * JavaScript's `<` on strings (code units), which the sorted merge relies on; for every valid
   * resource id (ASCII) that is also PostgreSQL's "C" collation.
   */
  page(resource: string, after: string | undefined, limit: number): Promise<string[]>;
  /** Which of `ids` exist now (one WHERE id = ANY($1) query). */
  existing(resource: string, ids: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

/** A catalog query failed: unreachable server, missing table or column, no privilege, timeout. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

/** PostgreSQL's longest identifier (NAMEDATALEN - 1); longer names are silently truncated by the server. */
const MAX_IDENTIFIER_LENGTH = 63;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const isSqlIdentifier = (name: string): boolean => name.length <= MAX_IDENTIFIER_LENGTH && IDENTIFIER.test(name);

/**
 * `name` as a double-quoted SQL identifier. Only [A-Za-z_][A-Za-z0-9_]* (at most 63
 * characters) is accepted, so nothing that reaches SQL text can close the quotes.
 */
export function quoteIdentifier(name: string): string {
  if (!isSqlIdentifier(name))
    throw new Error(
      `${JSON.stringify(name)} is not an accepted SQL identifier: use [A-Za-z_][A-Za-z0-9_]*, at most ${MAX_IDENTIFIER_LENGTH} characters`,
    );
  return `"${name}"`;
}

const IdentifierSchema = z
  .string()
  .max(MAX_IDENTIFIER_LENGTH)
  .regex(IDENTIFIER, 'must match [A-Za-z_][A-Za-z0-9_]* (quoted as given, so case matters)');

/** Where one kind's ids live. */
export const CatalogTableSchema = z.strictObject({
  /** Schema of the table; absent: the connection's search_path (usually "public"). */
  schema: IdentifierSchema.optional(),
  table: IdentifierSchema,
  idColumn: IdentifierSchema.default('id'),
});
export type CatalogTable = z.infer<typeof CatalogTableSchema>;

/** `"schema"."table"` or `"table"`, quoted. */
export const qualifiedTableName = (table: CatalogTable): string =>
  (table.schema ? `${quoteIdentifier(table.schema)}.` : '') + quoteIdentifier(table.table);

export interface CatalogConfig {
  /** postgres:// or postgresql:// URL; may carry the password, so never log it (see redactUrl). */
  readonly url: string;
  /** Per configured kind (resource name). */
  readonly tables: Readonly<Record<string, CatalogTable>>;
  /** Server-side limit on each catalog statement. */
  readonly statementTimeoutMs: number;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

const CatalogUrlSchema = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a postgres:// or postgresql:// URL with a host');

const firstIssue = (error: z.ZodError): string => {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
};

/**
 * The catalog configuration, or undefined when `CATALOG_URL` is absent (the feature is off).
 *
 * - `CATALOG_URL`: postgres://user[:password]@host[:port]/database[?sslmode=verify-full&sslrootcert=...]
 * - `CATALOG_TABLES`: JSON object, kind → {schema?, table, idColumn?}; kinds left out use the table named
 *   like the kind ("Thing", "Rule") and column "id".
 * - `CATALOG_STATEMENT_TIMEOUT_SECONDS`: default 30.
 *
 * A malformed value is a start-up error naming the variable, never a silent default.
 * Error messages never repeat the URL (it may hold the password).
 */
export function catalogConfigFromEnv(
  kinds: readonly Pick<KindConfig, 'resource'>[],
  env: NodeJS.ProcessEnv = process.env,
): CatalogConfig | undefined {
  const url = env.CATALOG_URL;
  if (url === undefined || url.trim() === '') return undefined;
  if (!CatalogUrlSchema.safeParse(url).success)
    throw new Error('CATALOG_URL is invalid: must be a postgres:// or postgresql:// URL with a host');

  const tables: Record<string, CatalogTable> = {};
  for (const { resource } of kinds) tables[resource] = { table: resource, idColumn: 'id' };
  const rawTables = env.CATALOG_TABLES;
  if (rawTables !== undefined && rawTables.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawTables);
    } catch (error) {
      throw new Error(`CATALOG_TABLES is not valid JSON: ${(error as Error).message}`);
    }
    const result = z.record(z.string(), CatalogTableSchema).safeParse(parsed);
    if (!result.success) throw new Error(`CATALOG_TABLES is invalid at ${firstIssue(result.error)}`);
    for (const [resource, table] of Object.entries(result.data)) {
      if (!(resource in tables))
        throw new Error(
          `CATALOG_TABLES names ${JSON.stringify(resource)}, which is not a configured kind (${Object.keys(tables).join(', ')})`,
        );
      tables[resource] = table;
    }
  }

  let statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS;
  const rawTimeout = env.CATALOG_STATEMENT_TIMEOUT_SECONDS;
  if (rawTimeout !== undefined && rawTimeout.trim() !== '') {
    const seconds = Number(rawTimeout);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600)
      throw new Error(
        `CATALOG_STATEMENT_TIMEOUT_SECONDS must be a number of seconds in (0, 3600], got ${JSON.stringify(rawTimeout)}`,
      );
    statementTimeoutMs = Math.round(seconds * 1000);
  }
  return { url, tables, statementTimeoutMs };
}

/** The URL with its password (user info or `password=` parameter) replaced by ***. */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return '(unparsable catalog URL)';
  }
  if (url.password) url.password = '***';
  for (const key of [...url.searchParams.keys()])
    if (key.toLowerCase() === 'password' || key.toLowerCase() === 'sslpassword') url.searchParams.set(key, '***');
  return url.toString();
}
