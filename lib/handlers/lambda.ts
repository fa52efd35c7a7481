/**
 * What every Lambda entry point in functions/ shares: the container's App,
 * created on first use, and one rule for `sls invoke local`.
 */
import { createApp, sharedApp, type App } from '../app.js';

/**
 * Runs `work` with the container's App. A Lambda container is frozen between
 * invocations and keeps its App (and its ZooKeeper session) warm; `sls invoke
 * local` (which sets IS_LOCAL) runs a single invocation per process, so there
 * the invocation gets an App of its own, closed afterwards, or the open
 * session would keep the process alive.
 */
export async function withSharedApp<T>(work: (app: App) => Promise<T>): Promise<T> {
  if (process.env.IS_LOCAL !== 'true') return work(await sharedApp());
  const app = await createApp();
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}
