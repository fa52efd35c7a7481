/**
 * The platform's catalog of resources (SPEC §5 "Anti-entropy"): one table per
 * kind whose id column lists every resource that should exist. The anti-entropy
 * pass reads it in id order and compares it with the assigned set by a sorted
 * merge, so the order of `page` is part of the contract.
 */
import * as z from '../zod.js';
import type { KindConfig } from '../config/kinds.js';
import type { SecretReader } from '../secrets.js';

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
  .check(
    z.maxLength(MAX_IDENTIFIER_LENGTH),
    z.regex(IDENTIFIER, 'must match [A-Za-z_][A-Za-z0-9_]* (quoted as given, so case matters)'),
  );

/** Where one kind's ids live. */
export const CatalogTableSchema = z.strictObject({
  /** Schema of the table; absent: the connection's search_path (usually "public"). */
  schema: z.optional(IdentifierSchema),
  table: IdentifierSchema,
  idColumn: z._default(IdentifierSchema, 'id'),
});
export type CatalogTable = z.infer<typeof CatalogTableSchema>;

/** `"schema"."table"` or `"table"`, quoted. */
export const qualifiedTableName = (table: CatalogTable): string =>
  (table.schema ? `${quoteIdentifier(table.schema)}.` : '') + quoteIdentifier(table.table);

export interface CatalogConfig {
  /** postgres:// or postgresql:// URL; may carry the password (locally only), so never log it (see lib/redact.ts). */
  readonly url: string;
  /** The Secrets Manager secret that holds the password (catalogPassword reads it); the URL then carries none. */
  readonly passwordSecret?: string;
  /** Per configured kind (resource name). */
  readonly tables: Readonly<Record<string, CatalogTable>>;
  /** Server-side limit on each catalog statement. */
  readonly statementTimeoutMs: number;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

const CatalogUrlSchema = z.string().check(
  z.refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a postgres:// or postgresql:// URL with a host'),
);

const firstIssue = (error: z.core.$ZodError): string => {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
};

/**
 * The catalog configuration, or undefined when `CATALOG_URL` is absent (the feature is off).
 *
 * - `CATALOG_URL`: postgres://user[:password]@host[:port]/database[?sslmode=verify-full&sslrootcert=...]
 * - `CATALOG_PASSWORD_SECRET`: the name of the secret that holds the password. A deployed function takes the
 *   password only from there: a CATALOG_URL with a password is refused in Lambda (it would be a plain value in
 *   the stack), and everywhere when a secret is named as well.
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
  const passwordSecret = env.CATALOG_PASSWORD_SECRET?.trim() || undefined;
  if (carriesPassword(url)) {
    if (passwordSecret)
      throw new Error('CATALOG_URL carries a password and CATALOG_PASSWORD_SECRET names one: give only the secret');
    if (env.AWS_LAMBDA_FUNCTION_NAME && env.IS_LOCAL !== 'true')
      throw new Error(
        'CATALOG_URL carries a password: a deployed function reads it from the secret CATALOG_PASSWORD_SECRET names',
      );
  }

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
  return { url, tables, statementTimeoutMs, ...(passwordSecret ? { passwordSecret } : {}) };
}

/** Whether the URL holds a password, in its user info or as libpq's `password` parameter. */
function carriesPassword(value: string): boolean {
  const url = new URL(value);
  return url.password !== '' || [...url.searchParams.keys()].some((key) => key.toLowerCase() === 'password');
}

/** What an RDS-managed or rotated secret holds: JSON with the password beside the user name, host, port. */
const RdsSecretSchema = z.object({ password: z.string() });

/**
 * The password of the secret the configuration names, or undefined when it names none. The secret holds the
 * password itself, or the JSON of an RDS-managed or rotated secret, whose `password` is taken.
 */
export async function catalogPassword(config: CatalogConfig, secrets: SecretReader): Promise<string | undefined> {
  if (!config.passwordSecret) return undefined;
  const value = await secrets.read(config.passwordSecret);
  if (!value.trimStart().startsWith('{')) return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return value;
  }
  const rds = RdsSecretSchema.safeParse(parsed);
  if (!rds.success)
    throw new Error(
      `the secret ${JSON.stringify(config.passwordSecret)} (CATALOG_PASSWORD_SECRET) is JSON without a string "password"`,
    );
  return rds.data.password;
}
