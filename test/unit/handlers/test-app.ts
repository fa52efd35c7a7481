/**
 * A real App over a real store for handler tests, plus a store wrapper that
 * can be switched into an outage or a failure and counts commits: the
 * handlers' failure paths are exercised against the real use cases, with
 * only the store's availability under the test's control.
 */
import type { AlertPublisher } from '../../../lib/alerts.js';
import type { App } from '../../../lib/app.js';
import type { Clock } from '../../../lib/clock.js';
import { createApp } from '../../../lib/app.js';
import type { KindConfig } from '../../../lib/config/kinds.js';
import type { Logger } from '../../../lib/log.js';
import { StoreUnavailableError, type NodeStore, type VersionedNode, type WriteOp } from '../../../lib/store/port.js';
import { openTestStore, type StoreAdapter, type TestStore } from '../../support/stores.js';

/** Delegates to a real store; `fail` makes every call reject with the error it returns. */
export class ControlledStore implements NodeStore {
  commits = 0;
  /** getMany calls answered: each is one round trip to the store. */
  reads = 0;
  fail: (() => Error) | undefined;
  /** Fails only the commits it returns an error for (e.g. those touching one kind). */
  failCommit: ((ops: readonly WriteOp[]) => Error | undefined) | undefined;

  constructor(private readonly inner: NodeStore) {}

  get description(): string {
    return this.inner.description;
  }

  private async guard<T>(call: () => Promise<T>): Promise<T> {
    if (this.fail) throw this.fail();
    return call();
  }

  get(path: string): Promise<VersionedNode | undefined> {
    return this.guard(() => this.inner.get(path));
  }
  getMany(paths: readonly string[]): Promise<Array<VersionedNode | undefined>> {
    return this.guard(async () => {
      const nodes = await this.inner.getMany(paths);
      this.reads++;
      return nodes;
    });
  }
  children(path: string): Promise<string[]> {
    return this.guard(() => this.inner.children(path));
  }
  commit(ops: readonly WriteOp[]): Promise<void> {
    return this.guard(async () => {
      const refused = this.failCommit?.(ops);
      if (refused) throw refused;
      await this.inner.commit(ops);
      this.commits++;
    });
  }
  ensurePath(path: string): Promise<void> {
    return this.guard(() => this.inner.ensurePath(path));
  }
  watch(path: string, onChange: () => void): () => void {
    return this.inner.watch(path, onChange);
  }
  ping(): Promise<void> {
    return this.guard(() => this.inner.ping());
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** From now on the backend is unreachable, as ZooKeeper after a lost session. */
  goDown(): void {
    this.fail = () => new StoreUnavailableError('connection lost (test outage)');
  }
}

export interface TestApp {
  readonly app: App;
  readonly store: ControlledStore;
  readonly backing: TestStore;
  close(): Promise<void>;
}

export async function openTestApp(
  adapter: StoreAdapter,
  options: {
    label?: string;
    kinds?: readonly KindConfig[];
    clock?: Clock;
    alerts?: AlertPublisher;
    logger?: Logger;
  } = {},
): Promise<TestApp> {
  const backing = await openTestStore(adapter, options.label ?? 'handlers');
  const store = new ControlledStore(backing.store);
  const app = await createApp(backing.env, {
    store,
    ...(options.kinds ? { kinds: options.kinds } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.alerts ? { alerts: options.alerts } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    app,
    store,
    backing,
    async close() {
      store.fail = undefined;
      store.failCommit = undefined;
      await backing.cleanup();
    },
  };
}
