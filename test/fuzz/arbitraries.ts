/**
 * Generators the fuzz suites share: resource ids good and bad, JSON of any
 * shape, and EventBridge triggers with the verdict the trigger parser must
 * reach on each, decided here from the documented rule rather than by the
 * parser itself.
 */
import fc from 'fast-check';
import { RESOURCE_ID_PATTERN } from '../../lib/domain/resource-id.js';
import { sampleEvent } from '../unit/handlers/fixtures.js';

/**
 * Valid resource ids, few enough that a create and a delete of one id meet
 * within a run; names that are special as paths or as object keys included.
 */
export const RESOURCE_IDS = [
  't-0',
  't-1',
  't-2',
  'T.3',
  'a:b.c_d-e',
  '0',
  '42',
  '.',
  '..',
  '__proto__',
  'constructor',
  'x'.repeat(128),
] as const;
export const resourceId = fc.constantFrom(...RESOURCE_IDS);
export const resourceIds = fc.uniqueArray(resourceId, { minLength: 1, maxLength: 5 });

/**
 * Any code point but a lone surrogate, mostly ASCII. Used instead of
 * fast-check's 'binary' unit, whose reverse lookup (needed to shrink a value
 * it did not generate itself) first builds a map of every code point: seconds
 * of CPU per arbitrary.
 */
export const anyCodePoint = fc
  .oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 0x7f }) },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xd7ff }) },
    { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0x10ffff }) },
  )
  .map((codePoint) => String.fromCodePoint(codePoint));

/** Strings that are not resource ids: empty, too long, or with a character outside [A-Za-z0-9._:-]. */
export const badIdString = fc.oneof(
  fc.constantFrom('', 'x'.repeat(129), 'a b', 'a/b', '../x', '%2E', 'é', 'a\u0000b', 'id\n'),
  fc.string({ unit: anyCodePoint, maxLength: 12 }).filter((text) => !RESOURCE_ID_PATTERN.test(text)),
);

/** Any JSON value, strings with any code point. */
export const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: anyCodePoint });

/** Text that JSON.parse refuses. */
export const notJsonText = fc
  .oneof(
    fc.constantFrom('', '{', '{"o":"c","t":"Thing","k":', 'nul', "{'o':'c'}", '[1,]', '\u0000'),
    fc.string({ unit: anyCodePoint, maxLength: 40 }),
  )
  .filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  });

/* ------------------------------------------------------------ triggers */

/** The schedule event of events/ (`sls invoke local -f reconcile`), as EventBridge sends it. */
export const SCHEDULED_EVENT = sampleEvent<Record<string, unknown>>('reconcile.json');

/** The three fields a run logs, in the order the parser checks them. */
const TRIGGER_FIELDS = ['source', 'detail-type', 'time'] as const;

/** Strings shaped like times, some of which Date.parse accepts and some not. */
const timeLike = fc.oneof(
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc.date({ noInvalidDate: true }).map((date) => date.toUTCString()),
  fc.constantFrom('', 'yesterday', '2024-13-45T99:00:00Z', '2024-05-01', '1', 'now', 'T'),
  fc.string({ maxLength: 12 }),
);

/** A trigger and the field a malformed one must be dropped for (`undefined`: well-formed). */
export interface GeneratedTrigger {
  readonly event: unknown;
  readonly malformedField: string | undefined;
}

/**
 * The documented rule (lib/reconcile/trigger.ts): an object whose `source`
 * and `detail-type` are non-empty strings and whose `time` is a date-time;
 * otherwise the first field of those three that is not, or "(event)".
 */
export function triggerVerdict(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return '(event)';
  const fields = event as Record<string, unknown>;
  const fine: Record<(typeof TRIGGER_FIELDS)[number], (value: unknown) => boolean> = {
    source: (value) => typeof value === 'string' && value.length > 0,
    'detail-type': (value) => typeof value === 'string' && value.length > 0,
    time: (value) => typeof value === 'string' && !Number.isNaN(Date.parse(value)),
  };
  return TRIGGER_FIELDS.find((field) => !fine[field](fields[field]));
}

/** Scheduled events as EventBridge sends them, with fields changed, removed or added, and JSON of any shape. */
export const trigger: fc.Arbitrary<GeneratedTrigger> = fc
  .oneof(
    fc
      .dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 3 })
      .map((extra) => ({ ...extra, ...SCHEDULED_EVENT })),
    fc
      .record({
        changes: fc.array(
          fc.record({
            field: fc.constantFrom(...TRIGGER_FIELDS, 'version', 'detail', 'resources'),
            value: fc.option(fc.oneof(timeLike, anyJson), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 3 },
        ),
      })
      .map(({ changes }) => {
        const event: Record<string, unknown> = { ...SCHEDULED_EVENT };
        for (const { field, value } of changes) {
          if (value === undefined) delete event[field];
          else event[field] = value;
        }
        return event;
      }),
    anyJson,
    fc.constant(undefined),
  )
  .map((event) => ({ event, malformedField: triggerVerdict(event) }));
