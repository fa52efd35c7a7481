/**
 * The catalog function's run, with what its Lambda container keeps between
 * runs: one PostgreSQL pool (like the App's store session), and whether it
 * said the check is off. Only this function talks to PostgreSQL, so only its
 * bundle carries `pg`.
 */
import type { App } from '../app.js';
import type { Metrics } from '../metrics.js';
import { openPostgresCatalog, type PostgresCatalog } from './postgres.js';
import { catalogConfigFromEnv, catalogPassword } from './port.js';
import { type CatalogRunResult, catalogEveryMsFromEnv, runDueCatalogPasses } from './run.js';

export type CatalogRunResponse = ({ status: 'done' } & CatalogRunResult) | { status: 'off'; reason: string };

/** Every kind's pass failed: the invocation shows as an error. */
export class CatalogFailedError extends Error {
  override readonly name = 'CatalogFailedError';
  constructor(readonly failed: CatalogRunResult['failed']) {
    super(`no catalog pass succeeded: ${failed.map((f) => `${f.resource}: ${f.error}`).join('; ')}`);
  }
}

let catalog: PostgresCatalog | undefined;
let saidOff = false;

/** The due passes of every kind; off, said once per container, without `CATALOG_URL`. */
export async function scheduledCatalogRun(
  app: App,
  env: NodeJS.ProcessEnv,
  options: { readonly holder: string; readonly metrics: Metrics },
): Promise<CatalogRunResponse> {
  try {
    const config = catalogConfigFromEnv(app.kinds, env);
    if (!config) {
      const reason = 'CATALOG_URL is not set: the catalog check is off';
      if (!saidOff) app.logger.child({ handler: 'catalog' }).info(reason);
      saidOff = true;
      return { status: 'off', reason };
    }
    // The password, if a secret holds it, is read once: the pool outlives the invocation.
    catalog ??= openPostgresCatalog(config, await catalogPassword(config, app.secrets));
    const result = await runDueCatalogPasses(app, catalog, { everyMs: catalogEveryMsFromEnv(env), ...options });
    if (result.failed.length > 0 && result.passes.length === 0) throw new CatalogFailedError(result.failed);
    return { status: 'done', ...result };
  } finally {
    // `sls invoke local` runs one invocation per process: let it exit.
    if (env.IS_LOCAL === 'true') {
      await catalog?.close();
      catalog = undefined;
    }
  }
}
