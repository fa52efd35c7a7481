/**
 * Which cached instances another process may have changed: the repository's
 * contention sense. It watches an instance's `_reload` (every list change
 * bumps it) so a cached copy that another process made stale is re-read
 * before we write from it, instead of failing a compare-and-set first. Only
 * while another writer has been seen lately (a conflict): a watch costs a
 * notification and a re-arm per write, which a lone writer would pay for
 * nothing. Correctness never depends on this (versions do); it only saves
 * conflicts.
 */
import type { Clock } from '../clock.js';
import type { NodeStore } from '../store/port.js';
import type { Layout } from './layout.js';

export class ContentionWatch {
  private readonly stale = new Map<string, Set<string>>();
  private readonly watching = new Map<string, Set<string>>();
  /** Until when another writer counts as active. */
  private contendedUntil = 0;

  constructor(
    private readonly store: NodeStore,
    private readonly layout: Layout,
    private readonly clock: Clock,
    /** How long one conflict keeps this process watching the instances it caches. */
    private readonly contendedForMs: number,
  ) {}

  isStale(resource: string, id: string): boolean {
    return this.stale.get(resource)?.has(id) ?? false;
  }

  markStale(resource: string, id: string): void {
    this.staleSet(resource).add(id);
  }

  /** A fresh copy of the instance is cached: it is not stale, and is watched while writers contend. */
  fresh(resource: string, id: string): void {
    this.staleSet(resource).delete(id);
    if (this.clock() >= this.contendedUntil) return;
    let watched = this.watching.get(resource);
    if (!watched) this.watching.set(resource, (watched = new Set()));
    if (watched.has(id)) return;
    watched.add(id);
    this.store.watch(this.layout.reload(resource, id), () => {
      watched.delete(id);
      this.staleSet(resource).add(id);
    });
  }

  /** A conflict was seen: another writer is active. When it just showed up, everything cached may be stale. */
  conflicted(resource: string, cachedIds: Iterable<string>): void {
    const now = this.clock();
    const wasContended = now < this.contendedUntil;
    this.contendedUntil = now + this.contendedForMs;
    if (wasContended) return;
    for (const id of cachedIds) {
      this.fresh(resource, id);
      this.markStale(resource, id);
    }
  }

  private staleSet(resource: string): Set<string> {
    let set = this.stale.get(resource);
    if (!set) this.stale.set(resource, (set = new Set()));
    return set;
  }
}
