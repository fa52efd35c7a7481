/**
 * The pod limit of an orchestrate request (`POST …/orchestrate`): what the App's instance runtime runs
 * at once, every kind together, checked against the plan the orchestrate made (lib/handlers/http.ts).
 */
import type { App } from '../app.js';
import type { KindConfig } from '../config/kinds.js';
import type { OrchestrateGuard } from '../orchestration/types.js';
import { HttpError } from './http-errors.js';

/**
 * Refuses (409, and a pod-limit alert) an orchestrate whose plan would grow a kind past what the App's
 * instance runtime runs at once, every kind together: the local runtime's process cap. The orchestrate
 * calls it with its plan before writing anything. An orchestrate that does not grow the kind is never refused.
 */
export async function podLimitGuard(app: App, kind: KindConfig): Promise<OrchestrateGuard | undefined> {
  // Only an App that drives instances has a runtime (the api Lambda's has none, and no limit to keep).
  const limit = (await app.runtime().catch(() => undefined))?.podLimit;
  if (!limit) return undefined;
  return async ({ current, instances }) => {
    if (instances <= current) return;
    const others = await Promise.all(
      app.kinds.filter((other) => other !== kind).map((other) => app.orchestrator.instanceIds(other.resource)),
    );
    const otherKinds = others.reduce((sum, ids) => sum + ids.length, 0);
    const pods = instances + otherKinds;
    if (pods <= limit.max) return;
    await app.alerts.publish([
      {
        type: 'pod-limit',
        resource: kind.resource,
        refused: 'orchestrate',
        limit: limit.max,
        setting: limit.setting,
        pods,
        instances: [],
        at: app.clock(),
      },
    ]);
    throw new HttpError(
      409,
      'POD_LIMIT',
      `orchestrate would run ${instances} ${kind.resource} instances and ${otherKinds} of other kinds, ${pods} pods; ` +
        `the instance runtime runs at most ${limit.max} (${limit.setting}): ask for fewer or raise ${limit.setting}`,
      { resource: kind.resource, instances, otherKinds, limit: limit.max, setting: limit.setting },
    );
  };
}
