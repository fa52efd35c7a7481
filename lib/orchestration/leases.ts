/**
 * Named leases in the store: who may run a reconcile pass or an orchestrate
 * of a kind right now. Taken and renewed by compare-and-set; an expired lease
 * may be taken over, so a holder that died blocks others for one TTL at most.
 */
import { createInFolder, isConflict, withRetry } from '../store/port.js';
import { STORE_RETRY, type OrchestrationContext } from './context.js';
import { LeaseHeldError, LeaseLostError } from './errors.js';
import { CorruptNodeError, LeaseNodeSchema, parseNode } from './stored.js';
import type { Lease } from './types.js';

/** The lease of a kind's orchestrate; reconcile's scaling takes it too, so the two never interleave. */
export const orchestrateLease = (resource: string): string => `orchestrate-${resource}`;

/**
 * Renewal is due once a third of the TTL is used, so a holder that checks
 * between steps never lets its lease lapse. `now` is the App's clock.
 */
export const renewalDue = (lease: Lease, now: number): boolean => now >= lease.expiresAt - (lease.ttlMs * 2) / 3;

export class LeaseUseCase {
  constructor(private readonly context: OrchestrationContext) {}

  /** Takes a named lease; a holder may renew its own; an expired (or unreadable) one may be taken over. */
  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease> {
    const { store, repository, clock, logger } = this.context;
    const path = repository.layout.lease(name);
    return withRetry(async () => {
      const now = clock();
      const expiresAt = now + ttlMs;
      const data = JSON.stringify({ holder, expiresAt });
      const node = await store.get(path);
      if (!node) {
        // The leases' folder is made by the first lease ever taken.
        await createInFolder(store, repository.layout.leasesDir(), [{ op: 'create', path, data }]);
        return { name, holder, expiresAt, ttlMs, version: 0 };
      }
      try {
        const current = parseNode(LeaseNodeSchema, node);
        if (current.holder !== holder && current.expiresAt > now)
          throw new LeaseHeldError(name, current.holder, current.expiresAt);
      } catch (error) {
        if (!(error instanceof CorruptNodeError)) throw error;
        // A lease nobody can read protects nothing: taking it over is the only way forward.
        logger.warn({ path, problem: error.problem }, 'corrupt lease taken over');
      }
      await store.commit([{ op: 'set', path, data, version: node.version }]);
      return { name, holder, expiresAt, ttlMs, version: node.version + 1 };
    }, STORE_RETRY);
  }

  /**
   * Extends a lease we still hold (same version), for work that outlasts one
   * TTL. Throws LeaseLostError when it was taken over after expiring.
   */
  async renewLease(lease: Lease): Promise<Lease> {
    const { store, repository, clock } = this.context;
    const expiresAt = clock() + lease.ttlMs;
    const data = JSON.stringify({ holder: lease.holder, expiresAt });
    try {
      await store.commit([{ op: 'set', path: repository.layout.lease(lease.name), data, version: lease.version }]);
    } catch (error) {
      if (isConflict(error)) throw new LeaseLostError(lease.name, lease.holder);
      throw error;
    }
    return { ...lease, expiresAt, version: lease.version + 1 };
  }

  /** Releases only if still ours (same version); a lease taken over after expiry is left alone. */
  async releaseLease(lease: Lease): Promise<void> {
    try {
      await this.context.store.commit([
        { op: 'remove', path: this.context.repository.layout.lease(lease.name), version: lease.version },
      ]);
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
}
