/**
 * What starts a reconcile run: the EventBridge schedule (every minute), or a
 * manual invoke with the same envelope. The envelope only says "look now";
 * nothing in it changes what the run does, so it is checked loosely: the
 * three fields we log must be strings, anything else may be there or not.
 */
import * as z from '../zod.js';

export const ReconcileTriggerSchema = z.looseObject({
  source: z.string().check(z.minLength(1)),
  'detail-type': z.string().check(z.minLength(1)),
  time: z.string().check(z.refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date-time')),
});
export type ReconcileTrigger = z.infer<typeof ReconcileTriggerSchema>;

/** The trigger, or the first offending field: a malformed trigger is dropped, never retried. */
export type ParsedTrigger =
  | { readonly ok: true; readonly trigger: ReconcileTrigger }
  | { readonly ok: false; readonly field: string; readonly reason: string };

export function parseReconcileTrigger(event: unknown): ParsedTrigger {
  const result = ReconcileTriggerSchema.safeParse(event);
  if (result.success) return { ok: true, trigger: result.data };
  const issue = result.error.issues[0];
  return { ok: false, field: issue?.path.map(String).join('.') || '(event)', reason: issue?.message ?? 'invalid' };
}

/** No kind could be reconciled: thrown by the Lambda entry point so the run shows as failed. */
export class ReconcileFailedError extends Error {
  override readonly name = 'ReconcileFailedError';
  readonly code = 'RECONCILE_FAILED';
  constructor(
    readonly kinds: readonly string[],
    readonly errors: readonly string[],
  ) {
    super(`reconcile failed for every kind (${kinds.join(', ')}): ${errors.slice(0, 3).join('; ')}`);
  }
}
