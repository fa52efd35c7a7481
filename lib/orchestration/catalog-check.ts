/**
 * Anti-entropy against the platform's catalog (SPEC §5): a pass compares a
 * kind's catalog table with its assigned resources and heals both
 * differences, so a lost or reordered cm/notify message cannot leave a
 * device unserved, or a deleted one served, for longer than one pass.
 *
 * - The assigned set is read from the instance lists (at most one read per
 *   instance; the 500k-child index is never listed); pending resources count
 *   as known.
 * - The catalog is read by keyset pagination, pages of `pageSize`, never the
 *   whole table, and merged page by page with the sorted assigned ids.
 * - Missing ids (in the catalog, not assigned) are assigned in bulk, 5,000 at
 *   a time and before each checkpoint.
 * - Extra ids (assigned, not in the catalog) are re-checked in one
 *   `id = ANY($1)` query per chunk before anything is removed, so a row
 *   created during the scan is never unassigned; they are removed grouped by
 *   the list that holds them, so each touched list is rewritten about once.
 * - A checkpoint records what a restart could not tell from the store: how
 *   far the scan got, what it healed and the extra candidates it found. It is
 *   written only when there is such progress (at most every
 *   `checkpointEveryPages` pages), or when the pass has read for
 *   `checkpointEveryMs` since the last one (a pass longer than a function's
 *   timeout still gets through over several runs). A pass that finds no drift
 *   within that time writes nothing but its lease and its result.
 * - Mass-deletion guard: if more than `maxRemoveFraction` of the assigned
 *   resources would go in one pass, none go, an alert is raised and the pass
 *   says so: an empty or wrong table must never empty the fleet.
 * - A lease per kind stops two passes from overlapping; the result of the
 *   last pass is kept in the store for the API and the dashboard.
 */
import * as z from '../zod.js';
import type { AlertPublisher } from '../alerts.js';
import { diffSorted, firstAfter, removalBatches } from '../domain/catalog-diff.js';
import { isConflict } from '../store/port.js';
import { chunks, type Kinds, type OrchestrationContext } from './context.js';
import { LeaseHeldError } from './errors.js';
import type { CapacityUseCase } from './capacity.js';
import { renewalDue, type LeaseUseCase } from './leases.js';
import { IDS_PER_MULTI, type PlacementUseCase } from './placement.js';
import { CatalogPassSchema, jsonOrUndefined, parseNode } from './stored.js';
import type { CatalogPass, CatalogReader, Lease } from './types.js';
import type { UnassignUseCase } from './unassign.js';

export const CATALOG_DEFAULTS = {
  pageSize: 5000,
  maxRemoveFraction: 0.05,
  leaseTtlMs: 60_000,
  /** With healing to record, a checkpoint at most every this many pages (50,000 ids). */
  checkpointEveryPages: 10,
  /**
   * With nothing healed, a checkpoint after this long of reading: a pass the catalog function's 300 s timeout
   * stops loses at most this much of it. A 500,000-row pass with no drift takes under 10 s and writes none.
   */
  checkpointEveryMs: 60_000,
} as const;
/** Missing ids placed together: one placement batch writes a few lists, whatever the ids' spread over pages. */
const PLACE_BATCH = 5000;
/** Extra candidates a checkpoint carries (a few hundred KB, well under ZooKeeper's 1 MB node limit). */
const CHECKPOINT_CANDIDATES = 5000;
/** Ids per `id = ANY($1)` re-check. */
const RECHECK_CHUNK = 5000;

export interface CatalogPassOptions {
  readonly holder: string;
  readonly pageSize?: number;
  readonly maxRemoveFraction?: number;
  readonly checkpointEveryPages?: number;
  readonly checkpointEveryMs?: number;
}

/** Where a pass that was stopped (a Lambda timeout, a kill) goes on from. */
const CheckpointSchema = z.object({
  startedAt: z.number(),
  after: z.string(),
  scanned: z.number(),
  missing: z.number(),
  placed: z.number(),
  candidates: z.array(z.string()),
  /** More candidates than a checkpoint carries: the pass, once resumed, holds back rather than guess. */
  overflow: z.boolean(),
});
type Checkpoint = z.infer<typeof CheckpointSchema>;

export const catalogLease = (resource: string): string => `catalog-${resource}`;

export class CatalogCheckUseCase {
  constructor(
    private readonly context: OrchestrationContext,
    private readonly kinds: Kinds,
    private readonly parts: {
      readonly leases: LeaseUseCase;
      readonly placement: PlacementUseCase;
      readonly unassign: UnassignUseCase;
      readonly capacity: CapacityUseCase;
      readonly alerts: AlertPublisher;
    },
  ) {}

  /** Asks for a pass of the kind at the next chance (a `bc` without ids, the API); idempotent. */
  async requestCatalogPass(resource: string, reason: string): Promise<{ at: number }> {
    this.kinds.get(resource);
    const { repository, clock } = this.context;
    await repository.prepare(resource);
    const at = clock();
    await repository.put(repository.layout.catalogRequest(resource), JSON.stringify({ at, reason }));
    return { at };
  }

  /** The request waiting for the next pass, if any. */
  async pendingRequest(resource: string): Promise<{ at: number; reason: string } | undefined> {
    const { store, repository } = this.context;
    const node = await store.get(repository.layout.catalogRequest(resource));
    const request = node ? RequestSchema.safeParse(jsonOrUndefined(node.data)) : undefined;
    return request?.success ? request.data : undefined;
  }

  /** A pass is due when one was requested, or the last one started `everyMs` ago or more (or never ran). */
  async catalogPassDue(resource: string, everyMs: number): Promise<{ due: boolean; why: string }> {
    this.kinds.get(resource);
    const { store, repository, clock } = this.context;
    const [request, last] = await store.getMany([
      repository.layout.catalogRequest(resource),
      repository.layout.catalogPass(resource),
    ]);
    if (request) return { due: true, why: 'requested' };
    if (!last) return { due: true, why: 'no pass yet' };
    const at = parseNode(CatalogPassSchema, last).at;
    return clock() - at >= everyMs ? { due: true, why: 'scheduled' } : { due: false, why: 'not due' };
  }

  async lastCatalogPass(resource: string): Promise<CatalogPass | undefined> {
    this.kinds.get(resource);
    const { store, repository } = this.context;
    const node = await store.get(repository.layout.catalogPass(resource));
    return node ? parseNode(CatalogPassSchema, node) : undefined;
  }

  private async checkpoint(resource: string): Promise<Checkpoint | undefined> {
    const { store, repository, logger } = this.context;
    const node = await store.get(repository.layout.catalogCheckpoint(resource));
    if (!node) return undefined;
    const parsed = CheckpointSchema.safeParse(jsonOrUndefined(node.data));
    if (!parsed.success)
      logger.warn({ resource, path: node.path }, 'unreadable catalog checkpoint: the pass starts over');
    return parsed.success ? parsed.data : undefined;
  }

  private async saveCheckpoint(resource: string, checkpoint: Checkpoint): Promise<void> {
    const { repository } = this.context;
    await repository.put(repository.layout.catalogCheckpoint(resource), JSON.stringify(checkpoint));
  }

  private async settleRequest(resource: string, passStartedAt: number): Promise<void> {
    const { store, repository } = this.context;
    const node = await store.get(repository.layout.catalogRequest(resource));
    if (!node) return;
    const request = RequestSchema.safeParse(jsonOrUndefined(node.data));
    if (request.success && request.data.at > passStartedAt) return;
    await store.commit([{ op: 'remove', path: node.path, version: node.version }]).catch((error: unknown) => {
      // Renewed meanwhile (a new request) or already gone: either way, nothing to settle.
      if (!isConflict(error)) throw error;
    });
  }

  async catalogPass(resource: string, catalog: CatalogReader, options: CatalogPassOptions): Promise<CatalogPass> {
    this.kinds.get(resource);
    const { repository, clock, logger } = this.context;
    const pageSize = options.pageSize ?? CATALOG_DEFAULTS.pageSize;
    const maxRemoveFraction = options.maxRemoveFraction ?? CATALOG_DEFAULTS.maxRemoveFraction;
    const startedAt = clock();
    let lease: Lease;
    try {
      lease = await this.parts.leases.acquireLease(catalogLease(resource), options.holder, CATALOG_DEFAULTS.leaseTtlMs);
    } catch (error) {
      if (!(error instanceof LeaseHeldError)) throw error;
      return { ...emptyPass(resource, startedAt), status: 'skipped', reason: `a pass by ${error.holder} is running` };
    }
    const keepLease = async (): Promise<void> => {
      if (renewalDue(lease, clock())) lease = await this.parts.leases.renewLease(lease);
    };
    try {
      await repository.prepare(resource);
      const lists = await repository.read(resource);
      const pending = await this.parts.capacity.pendingIds(resource);
      const assigned = [...new Set([...lists.flatMap((cached) => cached.state.ids), ...pending])].sort();
      // A pass that was stopped goes on where its last checkpoint left it.
      const resumed = await this.checkpoint(resource);
      let { scanned, placed, missing } = resumed ?? { scanned: 0, placed: 0, missing: 0 };
      // Candidates a stopped pass found and could not carry over: only then is this pass missing some.
      const candidatesLost = resumed?.overflow ?? false;
      let overflow = candidatesLost;
      const candidates: string[] = [...(resumed?.candidates ?? [])];
      let after: string | undefined = resumed?.after;
      const passStartedAt = resumed?.startedAt ?? startedAt;
      const everyPages = options.checkpointEveryPages ?? CATALOG_DEFAULTS.checkpointEveryPages;
      const everyMs = options.checkpointEveryMs ?? CATALOG_DEFAULTS.checkpointEveryMs;
      // The last checkpoint (or the start): only progress beyond it is worth a write.
      let checkpointed = resumed !== undefined;
      let savedAt = startedAt;
      let pagesSinceSave = 0;
      let foundAtSave = missing + candidates.length;
      if (resumed) logger.info({ resource, after, scanned }, `${resource} catalog pass resumed from its checkpoint`);
      let toPlace: string[] = [];
      const placeCollected = async (): Promise<void> => {
        if (toPlace.length === 0) return;
        const batch = toPlace;
        toPlace = [];
        await keepLease();
        placed += (await this.parts.placement.assign(resource, batch)).assigned.length;
      };
      for (;;) {
        await keepLease();
        const page = await catalog.page(resource, after, pageSize);
        scanned += page.length;
        const last = page.at(-1);
        const end = page.length < pageSize || last === undefined ? assigned.length : firstAfter(assigned, last);
        const diff = diffSorted(page, assigned.slice(firstAfter(assigned, after), end));
        missing += diff.missing.length;
        // One by one: a spread of an empty table's 500k extras would exceed the call-argument limit.
        for (const id of diff.extra) candidates.push(id);
        for (const id of diff.missing) toPlace.push(id);
        // Missing ids are placed in batches, not per page: each placement rewrites whole lists.
        if (toPlace.length >= PLACE_BATCH) await placeCollected();
        if (page.length < pageSize || last === undefined) break;
        after = last;
        pagesSinceSave += 1;
        const found = missing + candidates.length;
        if ((found > foundAtSave && pagesSinceSave >= everyPages) || clock() - savedAt >= everyMs) {
          await placeCollected(); // a checkpoint must not skip ids it has not placed yet
          overflow ||= candidates.length > CHECKPOINT_CANDIDATES;
          await this.saveCheckpoint(resource, {
            startedAt: passStartedAt,
            after,
            scanned,
            missing,
            placed,
            candidates: overflow ? [] : candidates,
            overflow,
          });
          checkpointed = true;
          savedAt = clock();
          pagesSinceSave = 0;
          foundAtSave = found;
        }
      }
      await placeCollected();
      // Only ids the catalog still does not have, asked again now: a row created during the scan stays.
      const stillThere = new Set<string>();
      for (const chunk of chunks(candidates, RECHECK_CHUNK)) {
        await keepLease();
        for (const id of await catalog.existing(resource, chunk)) stillThere.add(id);
      }
      const extra = candidates.filter((id) => !stillThere.has(id));
      const limit = Math.floor(assigned.length * maxRemoveFraction);
      const held = extra.length > limit || candidatesLost;
      let removed = 0;
      if (held) {
        await this.parts.alerts.publish([
          {
            type: 'catalog-mass-removal',
            resource,
            wouldRemove: extra.length,
            assigned: assigned.length,
            maxRemoveFraction,
            at: clock(),
          },
        ]);
      } else {
        const holding = lists.map((cached) => cached.state);
        const waiting = new Set(pending);
        for (const batch of removalBatches(extra, holding, IDS_PER_MULTI)) {
          await keepLease();
          const result = await this.parts.unassign.unassign(resource, batch);
          // A pending id is on no list: unassign forgets it as not assigned, and that heals it too.
          removed += result.removed.length + result.notAssigned.filter((id) => waiting.has(id)).length;
        }
      }
      const pass: CatalogPass = {
        resource,
        status: held ? 'held' : 'done',
        at: passStartedAt,
        durationMs: clock() - startedAt,
        scanned,
        assigned: assigned.length,
        missing,
        extra: extra.length,
        healed: placed + removed,
        heldBack: held ? extra.length : 0,
        ...(held
          ? {
              reason: candidatesLost
                ? `more than ${CHECKPOINT_CANDIDATES} extra candidates across a resumed pass: none removed`
                : `${extra.length} of ${assigned.length} assigned would be removed, above ${maxRemoveFraction * 100}%: none removed`,
            }
          : {}),
      };
      await repository.put(repository.layout.catalogPass(resource), JSON.stringify(CatalogPassSchema.parse(pass)));
      if (checkpointed) await repository.removeIfPresent([repository.layout.catalogCheckpoint(resource)]);
      await this.settleRequest(resource, passStartedAt);
      logger[held ? 'warn' : 'info']({ ...pass }, `${resource} catalog pass ${pass.status}`);
      return pass;
    } finally {
      await this.parts.leases.releaseLease(lease).catch(() => undefined);
    }
  }
}

/** A request made before the pass started is answered by it; a later one waits for the next pass. */
const RequestSchema = z.object({ at: z.number(), reason: z.string() });

const emptyPass = (resource: string, at: number): CatalogPass => ({
  resource,
  status: 'skipped',
  at,
  durationMs: 0,
  scanned: 0,
  assigned: 0,
  missing: 0,
  extra: 0,
  healed: 0,
  heldBack: 0,
});
