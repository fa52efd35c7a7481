/**
 * EventBridge schedule `rate(1 minute)` → this function: a catalog pass for
 * every kind that is due (asked for by a `bc` without ids or by
 * `POST …/{resource}/catalog-check`, or `CATALOG_EVERY_MINUTES` since its
 * last pass). Without `CATALOG_URL` the check is off, said once per container.
 */
import { type CatalogRunResponse, scheduledCatalogRun } from '../lib/catalog/scheduled-run.js';
import { withMetrics } from '../lib/handlers/lambda.js';
import { type DroppedTrigger, onSchedule } from '../lib/handlers/scheduled.js';

export async function handler(
  event: unknown,
  context?: { awsRequestId?: string },
): Promise<CatalogRunResponse | DroppedTrigger> {
  const holder = `lambda/${context?.awsRequestId ?? 'catalog'}`;
  return withMetrics('catalog', (metrics) =>
    onSchedule('catalog', event, (app) => scheduledCatalogRun(app, process.env, { holder, metrics })),
  );
}
