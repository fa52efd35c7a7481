/**
 * cm/notify: the platform's data layer says a row was created, changed or
 * deleted. We assign, reload or unassign the orchestrated resource it names.
 *
 * Which side names the orchestrated resource (and what happens to it):
 *
 * 1. The message's table `t` is a configured kind (Thing, Rule, ...): the
 *    resource is the message's own row(s):
 *      c, bc → assign;   d, bd → unassign;   u, bu → reload.
 *    With a `trigger` the row changed because a related row changed, so
 *    c/bc reload rather than assign; an id that turns out to be on no
 *    instance is assigned after all, since a created row must end up placed.
 *    d/bd with a trigger still unassign: a deleted row is deleted whatever
 *    caused it.
 * 2. Otherwise, the trigger's table is a configured kind: the trigger names the
 *    resource (e.g. `{"o":"c","t":"Layout",…,"trigger":{"o":"u","t":"Thing","k":{"id":…}}}`),
 *    and its owner is reloaded, whatever the ops. A trigger never assigns or
 *    unassigns: the row's own create/delete message does that.
 * 3. Neither is a kind (ProtocolMeta, DeviceMeta, ...): ignored, debug log.
 *
 * This module parses and plans one message; notify-batch.ts folds a batch of
 * plans per kind and applies them, and says what happens to a malformed
 * message or a store outage.
 */
import * as z from '../zod.js';
import { findKind, type KindConfig } from '../config/kinds.js';
import { describeIssues, fieldIssues, ResourceIdSchema } from './events.js';

/* --------------------------------------------------------------- schema */

/** An id as the platform sends it: a string, or a non-negative integer we turn into one. */
const NotifyResourceIdSchema = z.pipe(
  z.transform((value: unknown) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : value,
  ),
  ResourceIdSchema,
);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `"id"` or `{"id": "id"}`; the schema is chosen by shape so an issue names `k` or `k.id`, not "invalid union". */
const KeyRefSchema = z.transform((value: unknown, ctx) => {
  const [candidate, path] = isObject(value) ? [value.id, ['id']] : [value, []];
  const result = NotifyResourceIdSchema.safeParse(candidate);
  if (result.success) return result.data;
  for (const issue of result.error.issues)
    ctx.issues.push({ code: 'custom', message: issue.message, path: [...path, ...issue.path], input: value });
  return z.NEVER;
});

/**
 * `where.id` of a bulk update/delete: one id, a list, or an operator object.
 * Sequelize serialises `Op.in` as `{"in": [...]}` in some versions and
 * `{"$in": [...]}` in others (the symbol itself is lost in JSON); `eq` likewise.
 */
const WhereIdSchema = z.transform((value: unknown, ctx) => {
  const list = (items: unknown[], path: PropertyKey[]): string[] => {
    const result = z.array(KeyRefSchema).safeParse(items);
    if (result.success) return result.data;
    for (const issue of result.error.issues)
      ctx.issues.push({ code: 'custom', message: issue.message, path: [...path, ...issue.path], input: value });
    return [];
  };
  if (Array.isArray(value)) return list(value, []);
  if (isObject(value)) {
    for (const operator of ['in', '$in', 'eq', '$eq'] as const) {
      if (!(operator in value)) continue;
      const operand = value[operator];
      return list(Array.isArray(operand) ? operand : [operand], [operator]);
    }
    ctx.issues.push({
      code: 'custom',
      message: 'expected an id, a list of ids, or {"in": [...]}',
      path: [],
      input: value,
    });
    return z.NEVER;
  }
  return list([value], []);
});

const MessageSideSchema = z.looseObject({
  o: z.string({ error: 'operation "o" is required' }).check(z.minLength(1)),
  t: z.string({ error: 'table "t" is required' }).check(z.minLength(1)),
});

/** The envelope every cm/notify message shares; the fields that carry ids are read per op. */
export const NotifyMessageSchema = z.extend(MessageSideSchema, {
  trigger: z.optional(MessageSideSchema),
});
export type NotifyMessage = z.infer<typeof NotifyMessageSchema>;

export type ParsedNotify =
  | { readonly ok: true; readonly message: NotifyMessage }
  | { readonly ok: false; readonly field: string; readonly reason: string };

/** Validates an already JSON-parsed message's envelope. */
export function validateNotifyMessage(value: unknown): ParsedNotify {
  const result = NotifyMessageSchema.safeParse(value);
  if (result.success) return { ok: true, message: result.data };
  const issues = fieldIssues(result.error);
  return { ok: false, field: issues[0]?.path ?? '', reason: describeIssues(issues) };
}

/** One MQTT payload (UTF-8 JSON) → a validated message envelope, or why not. */
export function parseNotifyPayload(raw: string | Buffer | Uint8Array): ParsedNotify {
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, field: '', reason: `payload is not JSON: ${(error as Error).message}` };
  }
  return validateNotifyMessage(value);
}

/* ----------------------------------------------------------------- plan */

export type NotifyOp = 'c' | 'u' | 'd' | 'bc' | 'bu' | 'bd';
const SINGLE_OPS: ReadonlySet<string> = new Set(['c', 'u', 'd']);
const BULK_OPS: ReadonlySet<string> = new Set(['bc', 'bu', 'bd']);
const isNotifyOp = (op: string): op is NotifyOp => SINGLE_OPS.has(op) || BULK_OPS.has(op);

/** What one message asks of the orchestrator. Pure: decided from the message and the configured kinds. */
export type NotifyPlan =
  | {
      readonly action: 'assign' | 'unassign' | 'reload';
      readonly resource: string;
      readonly ids: readonly string[];
      /** Which side of the message named the resource. */
      readonly via: 'message' | 'trigger';
      /** Reload, then assign any id that is on no instance (a created row reached us through a trigger). */
      readonly assignUnplaced: boolean;
    }
  /** A bulk op that names no ids (e.g. a bulkCreate without keys): only a catalog reconcile can tell. */
  | { readonly action: 'reconcile-needed'; readonly resource: string; readonly op: NotifyOp; readonly reason: string }
  | { readonly action: 'ignore'; readonly reason: string }
  | { readonly action: 'malformed'; readonly field: string; readonly reason: string };

type IdsOrIssue = { ids: string[] | undefined } | { field: string; reason: string };

/**
 * The ids a message side names, read as its op defines: `k` (else
 * `instance.id`) for c/u/d, `keys` for bc, `where.id` for bu/bd.
 * `ids: undefined` when a bulk op names none.
 */
function idsOf(side: Record<string, unknown>, op: NotifyOp, prefix: string): IdsOrIssue {
  const parse = (schema: z.ZodMiniType<unknown>, value: unknown, path: string): IdsOrIssue => {
    const result = schema.safeParse(value);
    if (result.success) {
      const ids = (Array.isArray(result.data) ? result.data : [result.data]) as string[];
      return { ids: [...new Set(ids)] };
    }
    const issues = fieldIssues(result.error, [prefix + path].filter(Boolean));
    return { field: issues[0]?.path ?? path, reason: describeIssues(issues) };
  };
  if (SINGLE_OPS.has(op)) {
    if (side.k !== undefined && side.k !== null) return parse(KeyRefSchema, side.k, 'k');
    const instance = side.instance;
    if (isObject(instance) && instance.id !== undefined)
      return parse(NotifyResourceIdSchema, instance.id, 'instance.id');
    return { field: `${prefix}k`, reason: `${prefix}k: required (the row's key, {"id": …})` };
  }
  if (op === 'bc') {
    if (side.keys === undefined || side.keys === null || (Array.isArray(side.keys) && side.keys.length === 0))
      return { ids: undefined };
    if (!Array.isArray(side.keys))
      return { field: `${prefix}keys`, reason: `${prefix}keys: expected an array of ids or {"id": …} objects` };
    return parse(z.array(KeyRefSchema), side.keys, 'keys');
  }
  const where = side.where;
  if (!isObject(where) || where.id === undefined || where.id === null) return { ids: undefined };
  return parse(WhereIdSchema, where.id, 'where.id');
}

/** Decides what a validated message asks for (see the module comment for the rules). */
export function planNotify(message: NotifyMessage, kinds: readonly KindConfig[]): NotifyPlan {
  const messageKind = findKind(kinds, message.t);
  const trigger = message.trigger;
  const triggerKind = trigger ? findKind(kinds, trigger.t) : undefined;

  if (messageKind) {
    const op = message.o;
    if (!isNotifyOp(op))
      return { action: 'ignore', reason: `operation "${op}" on ${message.t} does not change orchestration` };
    const found = idsOf(message, op, '');
    if ('field' in found) return { action: 'malformed', field: found.field, reason: found.reason };
    const resource = messageKind.resource;
    if (found.ids === undefined) {
      return {
        action: 'reconcile-needed',
        resource,
        op,
        reason: `"${op}" on ${resource} names no ids; a catalog reconcile must find them`,
      };
    }
    const base = { resource, ids: found.ids, via: 'message' as const };
    if (op === 'd' || op === 'bd') return { ...base, action: 'unassign', assignUnplaced: false };
    if (op === 'u' || op === 'bu') return { ...base, action: 'reload', assignUnplaced: false };
    return trigger
      ? { ...base, action: 'reload', assignUnplaced: true }
      : { ...base, action: 'assign', assignUnplaced: false };
  }

  if (trigger && triggerKind) {
    // The trigger's own op tells how to read its ids; an op we do not know is read as a single-row key.
    const op = isNotifyOp(trigger.o) ? trigger.o : 'u';
    const found = idsOf(trigger, op, 'trigger.');
    if ('field' in found) return { action: 'malformed', field: found.field, reason: found.reason };
    if (found.ids === undefined) {
      return {
        action: 'reconcile-needed',
        resource: triggerKind.resource,
        op,
        reason: `trigger "${trigger.o}" on ${trigger.t} names no ids`,
      };
    }
    return { action: 'reload', resource: triggerKind.resource, ids: found.ids, via: 'trigger', assignUnplaced: false };
  }

  return { action: 'ignore', reason: `table ${message.t} is not an orchestrated kind` };
}

/* -------------------------------------------------------------- execute */

/** Counter names, one EMF metric each. */
export const NOTIFY_METRICS = {
  messages: 'NotifyMessages',
  malformed: 'NotifyMalformed',
  ignored: 'NotifyIgnored',
  reconcileNeeded: 'NotifyReconcileNeeded',
  assigned: 'NotifyAssignedIds',
  unassigned: 'NotifyUnassignedIds',
  reloaded: 'NotifyReloadedInstances',
  redelivered: 'NotifyRedeliveredIds',
  /** Batch records reported for redelivery because their kind's store work failed. */
  failedRecords: 'NotifyFailedRecords',
} as const;
