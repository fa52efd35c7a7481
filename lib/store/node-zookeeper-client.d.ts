/**
 * Minimal typing for node-zookeeper-client 1.1.3 (the package ships none):
 * only what the store adapter, its tests and the benchmarks use.
 */
declare module 'node-zookeeper-client' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  namespace zookeeper {
    interface Stat {
      /** 64-bit zxids are 8-byte big-endian buffers. */
      readonly czxid: Buffer;
      readonly mzxid: Buffer;
      readonly version: number;
      readonly cversion: number;
      readonly aversion: number;
      readonly dataLength: number;
      readonly numChildren: number;
    }

    class Id {
      constructor(scheme: string, id: string);
      readonly scheme: string;
      readonly id: string;
    }

    class ACL {
      constructor(permission: number, id: Id);
      readonly permission: number;
      readonly id: Id;
      static readonly OPEN_ACL_UNSAFE: ACL[];
      static readonly READ_ACL_UNSAFE: ACL[];
      static readonly CREATOR_ALL_ACL: ACL[];
    }

    const Permission: {
      readonly READ: 1;
      readonly WRITE: 2;
      readonly CREATE: 4;
      readonly DELETE: 8;
      readonly ADMIN: 16;
      readonly ALL: 31;
    };

    const CreateMode: {
      readonly PERSISTENT: 0;
      readonly EPHEMERAL: 1;
      readonly PERSISTENT_SEQUENTIAL: 2;
      readonly EPHEMERAL_SEQUENTIAL: 3;
    };

    class State {
      readonly name: string;
      readonly code: number;
      static readonly DISCONNECTED: State;
      static readonly SYNC_CONNECTED: State;
      static readonly AUTH_FAILED: State;
      static readonly CONNECTED_READ_ONLY: State;
      static readonly EXPIRED: State;
    }

    class Event {
      readonly type: number;
      readonly name: string;
      readonly path: string;
      getType(): number;
      getPath(): string;
      static readonly NODE_CREATED: 1;
      static readonly NODE_DELETED: 2;
      static readonly NODE_DATA_CHANGED: 3;
      static readonly NODE_CHILDREN_CHANGED: 4;
    }

    class Exception extends Error {
      readonly code: number;
      readonly path: string | undefined;
      getCode(): number;
      getName(): string;
      getPath(): string | undefined;
      static readonly OK: 0;
      static readonly SYSTEM_ERROR: -1;
      static readonly RUNTIME_INCONSISTENCY: -2;
      static readonly CONNECTION_LOSS: -4;
      static readonly OPERATION_TIMEOUT: -7;
      static readonly NO_NODE: -101;
      static readonly NO_AUTH: -102;
      static readonly BAD_VERSION: -103;
      static readonly NODE_EXISTS: -110;
      static readonly NOT_EMPTY: -111;
      static readonly SESSION_EXPIRED: -112;
      static readonly INVALID_ACL: -114;
      static readonly AUTH_FAILED: -115;
    }

    type Callback<T> = (error: Exception | Error | null | undefined, result: T) => void;

    /** One entry per op of a multi; `err` is set on every entry when the multi failed. */
    interface TransactionResult {
      readonly type: number;
      readonly err?: number;
      readonly path?: string;
      readonly stat?: Stat;
    }

    /** A queued op of a multi (library internal; see the adapter for why it is touched). */
    interface TransactionOp {
      type: number;
      path: string;
      version?: number;
    }

    interface Transaction {
      /** Internal list of queued ops. */
      readonly ops: TransactionOp[];
      create(path: string, data?: Buffer, acls?: ACL[], mode?: number): Transaction;
      setData(path: string, data: Buffer, version?: number): Transaction;
      check(path: string, version?: number): Transaction;
      remove(path: string, version?: number): Transaction;
      commit(
        callback: (error: Exception | Error | null | undefined, results: TransactionResult[] | undefined) => void,
      ): void;
    }

    interface ClientOptions {
      sessionTimeout?: number;
      spinDelay?: number;
      retries?: number;
      sessionId?: Buffer;
      sessionPassword?: Buffer;
    }

    /** Library internal, used only to tell a closed client from a reconnecting one and to drop a dead socket. */
    interface ConnectionManager extends EventEmitter {
      /** Negative values are terminal: -1 closing, -2 closed, -3 session expired, -4 authentication failed. */
      state: number;
      socket?: Socket;
      connectTimeoutHandler?: ReturnType<typeof setTimeout> | null;
    }

    interface Client extends EventEmitter {
      readonly connectionManager: ConnectionManager;
      connect(): void;
      close(): void;
      getState(): State;
      getSessionId(): Buffer;
      getSessionPassword(): Buffer;
      getSessionTimeout(): number;
      addAuthInfo(scheme: string, auth: Buffer): void;
      create(path: string, callback: Callback<string>): void;
      create(path: string, data: Buffer | null | undefined, callback: Callback<string>): void;
      create(path: string, data: Buffer | null | undefined, acls: ACL[], callback: Callback<string>): void;
      create(
        path: string,
        data: Buffer | null | undefined,
        acls: ACL[],
        mode: number,
        callback: Callback<string>,
      ): void;
      remove(path: string, version: number, callback: (error: Exception | Error | null | undefined) => void): void;
      setData(path: string, data: Buffer | null, version: number, callback: Callback<Stat>): void;
      getData(
        path: string,
        watcher: ((event: Event) => void) | undefined,
        callback: (error: Exception | Error | null | undefined, data: Buffer | null | undefined, stat: Stat) => void,
      ): void;
      getData(
        path: string,
        callback: (error: Exception | Error | null | undefined, data: Buffer | null | undefined, stat: Stat) => void,
      ): void;
      exists(path: string, watcher: ((event: Event) => void) | undefined, callback: Callback<Stat | null>): void;
      exists(path: string, callback: Callback<Stat | null>): void;
      getChildren(
        path: string,
        callback: (error: Exception | Error | null | undefined, children: string[], stat: Stat) => void,
      ): void;
      getACL(
        path: string,
        callback: (error: Exception | Error | null | undefined, acls: ACL[], stat: Stat) => void,
      ): void;
      mkdirp(path: string, callback: Callback<string>): void;
      mkdirp(path: string, data: Buffer | null | undefined, acls: ACL[], callback: Callback<string>): void;
      transaction(): Transaction;
    }

    function createClient(connectionString: string, options?: ClientOptions): Client;
  }

  export = zookeeper;
}
