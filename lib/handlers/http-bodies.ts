/**
 * Request bodies of the REST API: the size limit, the schemas of the POST bodies, and JSON
 * parsing that answers 400 naming the field (413 past the limit) before anything is read.
 */
import * as z from '../zod.js';
import { fieldIssues, ResourceIdSchema, type HttpApiEvent } from './events.js';
import { HttpError, invalidRequest, payloadTooLarge } from './http-errors.js';

/** Bodies above this are refused before they are decoded or parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Ids per POST/DELETE …/resources request (one instance holds at most 5000). */
export const MAX_IDS_PER_REQUEST = 10_000;

/** Absent or null fields take the legacy defaults; ranges are the domain's to check (InvalidOptionError). */
const optionalNumber = z.pipe(
  z.nullish(z.number({ error: 'expected a number' })),
  z.transform((value: number | null | undefined) => value ?? undefined),
);
export const OrchestrateBodySchema = z.strictObject({
  initInstances: optionalNumber,
  maxInstances: optionalNumber,
  resourcePerInstance: optionalNumber,
});

export const ResourcesBodySchema = z.strictObject({
  ids: z
    .array(ResourceIdSchema)
    .check(
      z.minLength(1, 'ids must name at least one resource'),
      z.maxLength(MAX_IDS_PER_REQUEST, `at most ${MAX_IDS_PER_REQUEST} ids per request`),
    ),
});

/** The body as text, refusing oversize bodies before decoding them. */
function bodyText(event: HttpApiEvent): string {
  const body = event.body ?? '';
  const size = event.isBase64Encoded ? Buffer.byteLength(body, 'base64') : Buffer.byteLength(body, 'utf8');
  if (size > MAX_BODY_BYTES) throw payloadTooLarge(MAX_BODY_BYTES, size);
  return event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

/** Parses the JSON body with `schema`; an empty body reads as `{}` (the legacy console sent none). */
export function jsonBody<T>(event: HttpApiEvent, schema: z.ZodMiniType<T>): T {
  const text = bodyText(event);
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, 'INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(fieldIssues(result.error), 'body');
  return result.data;
}
