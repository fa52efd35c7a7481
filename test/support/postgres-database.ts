/**
 * A database of its own for one test file, on the run's PostgreSQL
 * (`inject('pgUrl')`): created in `beforeAll`, dropped (connections forced
 * closed) in `afterAll`. Free of vitest, so it can be used anywhere.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** The database's URL (the server's, with its name as path). */
  readonly url: string;
  /** A connection to it, for the test's own SQL. */
  readonly db: pg.Client;
  /** A connection to the server's default database (roles, other databases). */
  readonly admin: pg.Client;
  drop(): Promise<void>;
}

export async function createTestDatabase(serverUrl: string, prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8'`);
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  return {
    url: url.toString(),
    db,
    admin,
    async drop() {
      await db.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}
