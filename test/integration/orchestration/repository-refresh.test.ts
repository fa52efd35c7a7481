/**
 * Instances another process changed are re-read together: a placement whose
 * targets went stale pays one store round trip for all of them, not one each
 * (lib/orchestration/placement.ts). Two orchestrations over one real store,
 * as two notify containers would be.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../lib/app.js';
import { systemClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { InstanceRepository } from '../../../lib/orchestration/repository.js';
import { STORE_ADAPTERS } from '../../support/stores.js';
import { openTestApp, type TestApp } from '../../unit/handlers/test-app.js';

describe.each(STORE_ADAPTERS)('re-reading stale instances (%s)', (adapter) => {
  let t: TestApp | undefined;
  let other: App | undefined;
  afterEach(async () => {
    await other?.close();
    await t?.close();
    other = undefined;
    t = undefined;
  });

  it('reads every instance asked for in one round trip, caching what the other process wrote', async () => {
    // Prepare: this process caches 3 instances, then another process places ids on all of them.
    t = await openTestApp(adapter, { label: 'refresh' });
    await t.app.orchestrator.orchestrate('Thing', { initInstances: 3 }, 'test');
    const repository = new InstanceRepository({
      store: t.store,
      layout: t.app.orchestrator.layout,
      clock: systemClock,
      logger: silentLogger(),
    });
    const before = await repository.read('Thing');
    other = await createApp(t.backing.env, { logger: silentLogger() });
    await other.orchestrator.assign(
      'Thing',
      Array.from({ length: 30 }, (_, i) => `thing-${i}`),
    );
    const written = new Map((await other.orchestrator.read('Thing')).map((instance) => [instance.id, instance.ids]));
    const reads = t.store.reads;

    // Act: the three, and one that does not exist.
    const fresh = await repository.refreshInstances('Thing', ['0', '1', '2', '7']);

    // Assess
    expect(t.store.reads - reads).toBe(1);
    expect(before.map((instance) => instance.state.used)).toEqual([0, 0, 0]);
    for (const id of ['0', '1', '2']) {
      expect(fresh.get(id)?.state.ids).toEqual(written.get(id));
      expect((await repository.cached('Thing')).get(id)).toBe(fresh.get(id));
    }
    expect([...written.values()].every((ids) => ids.length > 0)).toBe(true);
    expect(fresh.get('7')).toBeUndefined();
    expect((await repository.cached('Thing')).has('7')).toBe(false);
  });
});
