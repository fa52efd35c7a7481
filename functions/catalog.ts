/**
 * EventBridge schedule `rate(1 minute)` → this function: a catalog pass for
 * every kind that is due (asked for by a `bc` without ids or by
 * `POST …/{resource}/catalog-check`, or `CATALOG_EVERY_MINUTES` since its
 * last pass). Without `CATALOG_URL` the check is off, said once per
 * container. Only this function talks to PostgreSQL, so only its bundle
 * carries `pg`.
 */
import { openPostgresCatalog, type PostgresCatalog } from '../lib/catalog/postgres.js';
import { catalogConfigFromEnv, catalogPassword } from '../lib/catalog/port.js';
import { type CatalogRunResult, catalogEveryMsFromEnv, runDueCatalogPasses } from '../lib/catalog/run.js';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { Metrics } from '../lib/metrics.js';
import { parseReconcileTrigger } from '../lib/reconcile/trigger.js';

export type CatalogResponse =
  | ({ status: 'done' } & CatalogRunResult)
  | { status: 'off'; reason: string }
  | { status: 'dropped'; reason: string };

/** Every kind's pass failed: the invocation shows as an error. */
export class CatalogFailedError extends Error {
  override readonly name = 'CatalogFailedError';
  constructor(readonly failed: CatalogRunResult['failed']) {
    super(`no catalog pass succeeded: ${failed.map((f) => `${f.resource}: ${f.error}`).join('; ')}`);
  }
}

/** One pool per container, like the App's store session. */
let catalog: PostgresCatalog | undefined;
let saidOff = false;

export async function handler(event: unknown, context?: { awsRequestId?: string }): Promise<CatalogResponse> {
  const metrics = new Metrics('IotaOrchestrator', { Function: 'catalog' });
  try {
    return await withSharedApp(async (app) => {
      const log = app.logger.child({ handler: 'catalog' });
      const trigger = parseReconcileTrigger(event);
      if (!trigger.ok) {
        log.error({ field: trigger.field, reason: trigger.reason }, 'malformed catalog trigger dropped');
        return { status: 'dropped', reason: `${trigger.field}: ${trigger.reason}` };
      }
      const config = catalogConfigFromEnv(app.kinds, process.env);
      if (!config) {
        const reason = 'CATALOG_URL is not set: the catalog check is off';
        if (!saidOff) log.info(reason);
        saidOff = true;
        return { status: 'off', reason };
      }
      // The password, if a secret holds it, is read once: the pool outlives the invocation.
      catalog ??= openPostgresCatalog(config, await catalogPassword(config, app.secrets));
      const result = await runDueCatalogPasses(app, catalog, {
        everyMs: catalogEveryMsFromEnv(process.env),
        holder: `lambda/${context?.awsRequestId ?? 'catalog'}`,
        metrics,
      });
      if (result.failed.length > 0 && result.passes.length === 0) throw new CatalogFailedError(result.failed);
      return { status: 'done', ...result };
    });
  } finally {
    metrics.flush();
    // `sls invoke local` runs one invocation per process: let it exit.
    if (process.env.IS_LOCAL === 'true') {
      await catalog?.close();
      catalog = undefined;
    }
  }
}
