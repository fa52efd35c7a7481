/**
 * The query strings of the read routes that page: what each parameter may
 * be, with its default. A bad value is a 400 naming the parameter, never a
 * silent default.
 */
import { decodeCursor, RESOURCE_PAGE_DEFAULT, RESOURCE_PAGE_MAX } from '../orchestration/instance-view.js';
import { ALERTS_KEPT } from '../orchestration/alert-outbox.js';
import * as z from '../zod.js';
import { fieldIssues } from './events.js';
import { invalidRequest } from './http-errors.js';

const limit = (max: number, fallback: number) => {
  const error = `limit must be a whole number from 1 to ${max}`;
  return z._default(
    z.coerce.number({ error }).check(z.int({ error }), z.gte(1, { error }), z.lte(max, { error })),
    fallback,
  );
};

/** GET …/{resource}/instances/{instanceId}: a page of the instance's resource ids. */
export const ResourcePageQuerySchema = z.object({
  limit: limit(RESOURCE_PAGE_MAX, RESOURCE_PAGE_DEFAULT),
  cursor: z.optional(
    z
      .string()
      .check(z.refine((cursor) => decodeCursor(cursor) !== undefined, 'cursor must be a nextCursor of this listing')),
  ),
  q: z.optional(z.string().check(z.maxLength(128, 'q must be at most 128 characters'))),
});

/** The alerts a page shows at most, newest first. */
export const ALERTS_SHOWN_DEFAULT = 20;

/** GET /v1/api/alerts: the newest alerts kept in the store. */
export const AlertsQuerySchema = z.object({ limit: limit(ALERTS_KEPT, ALERTS_SHOWN_DEFAULT) });

/** Parses a route's query string (a repeated parameter: its last value) or throws the 400. */
export function parseQuery<T>(schema: z.ZodMiniType<T>, query: URLSearchParams): T {
  const result = schema.safeParse(Object.fromEntries(query));
  if (!result.success) throw invalidRequest(fieldIssues(result.error), 'query');
  return result.data;
}
