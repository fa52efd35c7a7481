import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the ZooKeeper server started by the global setup. */
    zkConnect: string;
  }
}
