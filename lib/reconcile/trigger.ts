/**
 * What starts a reconcile run: the EventBridge schedule (every minute), or a
 * manual invoke with the same envelope. The envelope only says "look now";
 * nothing in it changes what the run does, so it is checked loosely: the
 * three fields we log must be strings, anything else may be there or not.
 */
import { z } from 'zod';

export const ReconcileTriggerSchema = z.looseObject({
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  time: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date-time'),
});
export type ReconcileTrigger = z.infer<typeof ReconcileTriggerSchema>;

/** The event is not an EventBridge envelope; names the first offending field. */
export class InvalidTriggerError extends Error {
  override readonly name = 'InvalidTriggerError';
  readonly code = 'INVALID_TRIGGER';
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`reconcile trigger: ${field}: ${detail}`);
  }
}

export function parseReconcileTrigger(event: unknown): ReconcileTrigger {
  const result = ReconcileTriggerSchema.safeParse(event);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new InvalidTriggerError(issue?.path.map(String).join('.') || '(event)', issue?.message ?? 'invalid');
}
