/**
 * Catalog passes as a scheduled job: every kind whose pass is due (asked for
 * by a `bc` without ids or the API, or `everyMs` since the last) gets one, in
 * turn. Run by the `catalog` function and by `npm start` when `CATALOG_URL`
 * is set; one kind failing (the catalog down, a table missing) is logged and
 * counted, and the others still run.
 */
import type { App } from '../app.js';
import type { Metrics } from '../metrics.js';
import type { CatalogPass, CatalogReader } from '../orchestration/types.js';

/** How often a kind is checked when nothing asks for it. */
export const CATALOG_EVERY_MINUTES_DEFAULT = 15;

export interface CatalogRunResult {
  readonly passes: readonly CatalogPass[];
  readonly failed: ReadonlyArray<{ readonly resource: string; readonly error: string }>;
}

/** `CATALOG_EVERY_MINUTES` in ms; a malformed value is a start-up error naming it. */
export function catalogEveryMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CATALOG_EVERY_MINUTES;
  if (raw === undefined || raw.trim() === '') return CATALOG_EVERY_MINUTES_DEFAULT * 60_000;
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes < 1 || minutes > 1440)
    throw new Error(`CATALOG_EVERY_MINUTES must be a number of minutes in [1, 1440], got ${JSON.stringify(raw)}`);
  return Math.round(minutes * 60_000);
}

export async function runDueCatalogPasses(
  app: App,
  catalog: CatalogReader,
  options: { readonly everyMs: number; readonly holder: string; readonly metrics: Metrics },
): Promise<CatalogRunResult> {
  const log = app.logger.child({ handler: 'catalog' });
  const passes: CatalogPass[] = [];
  const failed: Array<{ resource: string; error: string }> = [];
  for (const { resource } of app.kinds) {
    try {
      const due = await app.orchestrator.catalogPassDue(resource, options.everyMs);
      if (!due.due) continue;
      const pass = await app.orchestrator.catalogPass(resource, catalog, { holder: options.holder });
      passes.push(pass);
      const kind = options.metrics.child({ Resource: resource });
      kind.count('CatalogScanned', pass.scanned);
      kind.count('CatalogMissing', pass.missing);
      kind.count('CatalogExtra', pass.extra);
      kind.count('CatalogHealed', pass.healed);
      kind.count('CatalogHeldBack', pass.heldBack);
      kind.gauge('CatalogPassMs', pass.durationMs);
      kind.flush();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failed.push({ resource, error: message });
      options.metrics.count('CatalogPassFailures');
      log.error({ resource, err: error, reported: true }, `${resource} catalog pass failed; the next run retries`);
    }
  }
  return { passes, failed };
}
