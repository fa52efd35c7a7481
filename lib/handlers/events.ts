/**
 * The envelopes AWS hands our Lambda functions, as zod schemas. Each is as
 * strict as the handler needs and no stricter: AWS adds fields over time, so
 * objects are loose; what we read is checked.
 *
 * Golden samples of each live in test/fixtures/ and events/.
 */
import * as z from '../zod.js';
import { RESOURCE_ID_PATTERN, RESOURCE_ID_RULE } from '../domain/resource-id.js';

/* ------------------------------------------------------------------ MSK */

/**
 * One Kafka record as the MSK event source delivers it. `value` is base64;
 * a tombstone has none. Parsed one record at a time, so a record of the wrong
 * shape is counted as malformed without failing its batch.
 */
export const MskRecordSchema = z.looseObject({
  topic: z.string(),
  partition: z.int().check(z.nonnegative()),
  offset: z.int().check(z.nonnegative()),
  timestamp: z.optional(z.number()),
  timestampType: z.optional(z.string()),
  key: z.optional(z.nullable(z.string())),
  value: z.optional(z.nullable(z.string())),
  headers: z.optional(z.array(z.record(z.string(), z.array(z.int())))),
});

/** The batch: records grouped by "topic-partition". Records themselves stay unknown here. */
export const MskEventSchema = z.looseObject({
  eventSource: z.enum(['aws:kafka', 'SelfManagedKafka']),
  eventSourceArn: z.optional(z.string()),
  bootstrapServers: z.optional(z.string()),
  records: z.record(z.string(), z.array(z.unknown())),
});
export type MskEvent = z.infer<typeof MskEventSchema>;

/* ----------------------------------------------------- HTTP API (v2.0) */

const stringMap = z.record(z.string(), z.string());

/** API Gateway HTTP API, payload format version 2.0. */
export const HttpApiEventSchema = z.looseObject({
  version: z.literal('2.0'),
  routeKey: z.string(),
  rawPath: z.string().check(z.startsWith('/')),
  rawQueryString: z._default(z.string(), ''),
  headers: z._default(stringMap, {}),
  queryStringParameters: z.optional(stringMap),
  pathParameters: z.optional(stringMap),
  body: z.optional(z.string()),
  isBase64Encoded: z._default(z.boolean(), false),
  requestContext: z.looseObject({
    requestId: z.string().check(z.minLength(1)),
    http: z.looseObject({
      method: z.string().check(z.minLength(1)),
      path: z.string().check(z.startsWith('/')),
    }),
  }),
});
export type HttpApiEvent = z.infer<typeof HttpApiEventSchema>;

/* ------------------------------------------------ EventBridge schedule */

/** The event an EventBridge `rate(...)`/`cron(...)` schedule delivers. */
export const ScheduledEventSchema = z.looseObject({
  version: z.string(),
  id: z.string(),
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.record(z.string(), z.unknown()),
});
export type ScheduledEvent = z.infer<typeof ScheduledEventSchema>;

/* ------------------------------------------------------------- issues */

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. "ids.3" or "k.id"; "" for the whole value. */
  readonly path: string;
  readonly message: string;
}

/** zod issues as `{path, message}` pairs, for logs and 400 bodies. */
export const fieldIssues = (error: z.core.$ZodError, prefix: readonly PropertyKey[] = []): FieldIssue[] =>
  error.issues.map((issue) => ({
    path: [...prefix, ...issue.path].map(String).join('.'),
    message: issue.message,
  }));

/** The first issue as one line: "k.id: resource id must be …". */
export const describeIssues = (issues: readonly FieldIssue[]): string =>
  issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ');

/** A resource id at any boundary: the domain's rule, with the domain's wording. */
export const ResourceIdSchema = z
  .string({ error: RESOURCE_ID_RULE })
  .check(z.regex(RESOURCE_ID_PATTERN, RESOURCE_ID_RULE));

/**
 * An SQS batch as an event source mapping delivers it: each record's
 * `messageId` identifies it in `batchItemFailures`; `body` is the message as
 * sent (for cm/notify, the IoT rule's JSON). Other record fields are kept.
 */
export const SqsEventSchema = z.object({
  Records: z.array(
    z.looseObject({ messageId: z.string().check(z.minLength(1)), body: z.string(), eventSource: z.literal('aws:sqs') }),
  ),
});
export type SqsEvent = z.infer<typeof SqsEventSchema>;
