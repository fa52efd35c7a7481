/**
 * cm/notify in batches: an SQS batch in AWS (the IoT rule's action is a
 * queue), a micro-batch of MQTT messages locally. Batching turns N
 * conflicting writes into one write per touched instance.
 *
 * 1. Every record is parsed and planned on its own (planNotify). A malformed
 *    one is logged with its reason and its first 200 bytes, counted and
 *    acknowledged: a retry would only fail again.
 * 2. The plans are folded per kind in message order, to one operation per id:
 *    the last create or delete wins (a create then a delete of the same id
 *    leaves it unassigned, duplicates collapse), a reload only matters for an
 *    id the batch neither assigns nor unassigns.
 * 3. Each kind then gets one unassign, one assign and one reload for the
 *    whole batch. A kind whose store work fails (store unavailable, a race
 *    that outlived its retries) reports exactly its records as failed, for
 *    the queue to redeliver; every other record is done.
 */
import { StringDecoder } from 'node:string_decoder';
import type { App } from '../app.js';
import { Metrics } from '../metrics.js';
import type { AssignResult, Placement, ReloadResult } from '../orchestration/types.js';
import {
  NOTIFY_METRICS,
  type NotifyPlan,
  parseNotifyPayload,
  planNotify,
  type ParsedNotify,
  validateNotifyMessage,
} from './notify.js';

/** One message of a batch: its queue id (SQS messageId) and its payload. */
export interface NotifyRecord {
  readonly id: string;
  /** The message JSON as text or bytes (SQS body, MQTT payload), or already parsed. */
  readonly payload: unknown;
}

/** The result of one kind's work for the batch. */
export interface KindBatchOutcome {
  readonly resource: string;
  /** Records that asked something of this kind. */
  readonly records: number;
  readonly assigned: readonly Placement[];
  readonly alreadyAssigned: number;
  readonly createdInstances: readonly string[];
  /** Kept pending at the kind's maximum. */
  readonly pending: readonly string[];
  readonly removed: readonly Placement[];
  readonly notAssigned: number;
  readonly reloaded: ReloadResult['reloaded'];
  /** Set when the kind's store work failed: its records are reported for redelivery. */
  readonly error?: string;
}

export interface NotifyBatchResult {
  readonly records: number;
  /** Dropped messages: why, and the first bytes of each (payloadExcerpt). */
  readonly malformed: ReadonlyArray<{
    readonly id: string;
    readonly field: string;
    readonly reason: string;
    readonly payload: string;
  }>;
  readonly ignored: number;
  /** Kinds a message named without ids (a bulk create without keys): a catalog pass of each is requested. */
  readonly reconcileNeeded: readonly string[];
  readonly kinds: readonly KindBatchOutcome[];
  /** Records to redeliver (SQS batch item failures). */
  readonly failed: readonly string[];
}

/** How much of a dropped message is logged and shown: enough to recognise it, whatever its size. */
export const LOGGED_PAYLOAD_BYTES = 200;

type IdWork = 'assign' | 'unassign' | 'reload' | 'reload-or-assign';

interface KindWork {
  readonly resource: string;
  readonly records: Set<string>;
  /** One operation per id, in first-seen order. */
  readonly ops: Map<string, IdWork>;
}

/** The next operation on an id given the batch's earlier one (step 2 of the module comment). */
function fold(previous: IdWork | undefined, plan: Extract<NotifyPlan, { ids: readonly string[] }>): IdWork {
  if (plan.action === 'assign' || plan.action === 'unassign') return plan.action;
  if (plan.assignUnplaced) return previous === 'assign' ? 'assign' : 'reload-or-assign';
  return previous ?? 'reload';
}

/** The payload's bytes as they arrived: an MQTT payload as is, an SQS body (text) or a parsed message as UTF-8. */
const bytesOf = (payload: unknown): Buffer => {
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  try {
    return Buffer.from(JSON.stringify(payload) ?? String(payload), 'utf8');
  } catch {
    return Buffer.from(String(payload), 'utf8');
  }
};

/**
 * The first LOGGED_PAYLOAD_BYTES bytes of a payload as text, then its whole size when it is longer. Bytes, not
 * characters, so an MQTT payload and the same message as an SQS body read alike; a character cut in half at the
 * end is left out (StringDecoder holds it back) rather than shown as a replacement character.
 */
function payloadExcerpt(payload: unknown): string {
  const bytes = bytesOf(payload);
  if (bytes.length <= LOGGED_PAYLOAD_BYTES) return bytes.toString('utf8');
  return `${new StringDecoder('utf8').write(bytes.subarray(0, LOGGED_PAYLOAD_BYTES))}…(${bytes.length} bytes)`;
}

const parse = (payload: unknown): ParsedNotify =>
  typeof payload === 'string' || payload instanceof Uint8Array
    ? parseNotifyPayload(payload)
    : validateNotifyMessage(payload);

export async function handleNotifyBatch(
  app: App,
  records: readonly NotifyRecord[],
  metrics: Metrics = new Metrics(),
): Promise<NotifyBatchResult> {
  const log = app.logger.child({ handler: 'notify' });
  metrics.count(NOTIFY_METRICS.messages, records.length);
  const malformed: Array<NotifyBatchResult['malformed'][number]> = [];
  /** Kinds a message named without ids → the records that did, for a retry if the request cannot be stored. */
  const reconcileNeeded = new Map<string, string[]>();
  let ignored = 0;
  const work = new Map<string, KindWork>();

  for (const record of records) {
    const parsed = parse(record.payload);
    const plan: NotifyPlan = parsed.ok
      ? planNotify(parsed.message, app.kinds)
      : { action: 'malformed', field: parsed.field, reason: parsed.reason };
    if (plan.action === 'malformed') {
      const dropped = {
        id: record.id,
        field: plan.field,
        reason: plan.reason,
        payload: payloadExcerpt(record.payload),
      };
      malformed.push(dropped);
      log.warn(
        { record: dropped.id, field: dropped.field, reason: dropped.reason, payload: dropped.payload, reported: true },
        'malformed cm/notify message dropped',
      );
      continue;
    }
    if (plan.action === 'ignore' || (plan.action !== 'reconcile-needed' && plan.ids.length === 0)) {
      ignored += 1;
      log.debug({ record: record.id, reason: 'reason' in plan ? plan.reason : 'no ids' }, 'cm/notify message ignored');
      continue;
    }
    if (plan.action === 'reconcile-needed') {
      reconcileNeeded.set(plan.resource, [...(reconcileNeeded.get(plan.resource) ?? []), record.id]);
      log.warn(
        { record: record.id, resource: plan.resource, reason: plan.reason, reported: true },
        'catalog pass requested',
      );
      continue;
    }
    let kind = work.get(plan.resource);
    if (!kind) work.set(plan.resource, (kind = { resource: plan.resource, records: new Set(), ops: new Map() }));
    kind.records.add(record.id);
    for (const id of plan.ids) kind.ops.set(id, fold(kind.ops.get(id), plan));
  }
  metrics.count(NOTIFY_METRICS.malformed, malformed.length);
  metrics.count(NOTIFY_METRICS.ignored, ignored);
  metrics.count(NOTIFY_METRICS.reconcileNeeded, reconcileNeeded.size);

  // Kinds are independent: one failing must not hold the others back.
  const kinds = await Promise.all([...work.values()].map((kind) => applyKind(app, kind, metrics)));
  const failed = kinds.flatMap((outcome, i) => (outcome.error ? [...[...work.values()][i]!.records] : []));
  // Only the catalog knows which rows a bulk create without keys made: ask for a pass of the kind now.
  for (const [resource, asking] of reconcileNeeded) {
    try {
      await app.orchestrator.requestCatalogPass(resource, 'a bulk create named no ids');
    } catch (error) {
      log.error({ resource, err: error }, 'catalog pass not requested; the message is retried');
      failed.push(...asking);
    }
  }
  if (failed.length > 0) metrics.count(NOTIFY_METRICS.failedRecords, failed.length);
  return { records: records.length, malformed, ignored, reconcileNeeded: [...reconcileNeeded.keys()], kinds, failed };
}

async function applyKind(app: App, kind: KindWork, metrics: Metrics): Promise<KindBatchOutcome> {
  const log = app.logger.child({ handler: 'notify', resource: kind.resource });
  const resource = kind.resource;
  const idsFor = (...wanted: IdWork[]): string[] =>
    [...kind.ops].filter(([, op]) => wanted.includes(op)).map(([id]) => id);
  const toUnassign = idsFor('unassign');
  const toAssign = idsFor('assign');
  const toReload = idsFor('reload', 'reload-or-assign');
  const assignIfUnplaced = new Set(idsFor('reload-or-assign'));
  const outcome = {
    resource,
    records: kind.records.size,
    assigned: [] as Placement[],
    alreadyAssigned: 0,
    createdInstances: [] as string[],
    pending: [] as string[],
    removed: [] as Placement[],
    notAssigned: 0,
    reloaded: [] as ReloadResult['reloaded'][number][],
  };
  const took = (result: AssignResult): void => {
    outcome.assigned.push(...result.assigned);
    outcome.alreadyAssigned += result.alreadyAssigned.length;
    outcome.createdInstances.push(...result.createdInstances);
    outcome.pending.push(...result.pending);
  };
  try {
    if (toUnassign.length > 0) {
      const result = await app.orchestrator.unassign(resource, toUnassign);
      outcome.removed.push(...result.removed);
      outcome.notAssigned += result.notAssigned.length;
    }
    if (toAssign.length > 0) took(await app.orchestrator.assign(resource, toAssign));
    if (toReload.length > 0) {
      const result = await app.orchestrator.reload(resource, toReload);
      outcome.reloaded.push(...result.reloaded);
      const created = result.notAssigned.filter((id) => assignIfUnplaced.has(id));
      if (created.length > 0) took(await app.orchestrator.assign(resource, created));
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(
      { err: error, records: kind.records.size, ids: kind.ops.size, reported: true },
      `${resource} batch not applied; its records are retried`,
    );
    return { ...outcome, error: message };
  }
  metrics.count(NOTIFY_METRICS.assigned, outcome.assigned.length);
  metrics.count(NOTIFY_METRICS.unassigned, outcome.removed.length);
  metrics.count(NOTIFY_METRICS.reloaded, outcome.reloaded.length);
  metrics.count(NOTIFY_METRICS.redelivered, outcome.alreadyAssigned + outcome.notAssigned);
  const changed = outcome.assigned.length + outcome.removed.length + outcome.reloaded.length > 0;
  // A redelivered batch changes nothing: debug, so at-least-once delivery does not double the info log.
  log[changed ? 'info' : 'debug'](
    {
      assigned: outcome.assigned.length,
      removed: outcome.removed.length,
      reloaded: outcome.reloaded.length,
      alreadyAssigned: outcome.alreadyAssigned,
      notAssigned: outcome.notAssigned,
      createdInstances: outcome.createdInstances,
      pending: outcome.pending.length,
    },
    `${resource} batch applied`,
  );
  return outcome;
}
