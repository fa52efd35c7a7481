import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the ZooKeeper server started by the global setup. */
    zkConnect: string;
    /**
     * postgresql://postgres@127.0.0.1:<port>/postgres of the PostgreSQL server started by
     * the global setup (trust auth, except for members of role password_users). Suites create their own
     * database in it.
     */
    pgUrl: string;
  }
}
