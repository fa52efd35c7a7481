/**
 * Fuzzing the notify function (functions/notify.ts) with SQS batches and
 * direct single messages. While the store is up nothing throws (the one
 * documented throw is a direct message whose store work failed) and no record
 * comes back for redelivery; a malformed message is dropped, counted, names
 * its field and changes nothing; the well-formed messages of a batch apply
 * whatever poison sits between them, each id ending as its last create or
 * delete in the batch says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/notify.js';
import type { NotifyBatchResult } from '../../lib/handlers/notify-batch.js';
import { NOTIFY_METRICS } from '../../lib/handlers/notify.js';
import { anyJson, badIdString, notJsonText, resourceId, resourceIds } from './arbitraries.js';
import {
  captureMetrics,
  fuzzParameters,
  fuzzTimeout,
  KINDS,
  readAssignments,
  unchangedStore,
  useWarmContainer,
} from './support.js';

const store = useWarmContainer('notify');
const unchanged = unchangedStore(store);
const metrics = captureMetrics();

/* ------------------------------------------------------------ messages */

/** What a message must come to: applied (with the state it leaves each id in), malformed (naming a field), ignored. */
type Expected =
  | { readonly outcome: 'applied'; readonly effects: ReadonlyArray<Effect> }
  | { readonly outcome: 'malformed'; readonly field: string }
  | { readonly outcome: 'ignored' }
  /** JSON of any shape: dropped as malformed or ignored, whichever it turns out to be. */
  | { readonly outcome: 'junk' };

/** `assigned`: the id ends assigned (true), unassigned (false), or as it was (undefined: a reload). */
interface Effect {
  readonly resource: string;
  readonly id: string;
  readonly assigned: boolean | undefined;
}

interface Generated {
  /** The message as the platform would send it (parsed), or as raw text when it is not JSON. */
  readonly payload: unknown;
  readonly text: string;
  readonly expected: Expected;
}

const json = (payload: unknown, expected: Expected): Generated => ({
  payload,
  text: JSON.stringify(payload) ?? '',
  expected,
});

const kind = fc.constantFrom(...KINDS);
/** Tables the platform notifies about that are not orchestrated kinds (case matters: "thing" is not Thing). */
const otherTable = fc.constantFrom('Layout', 'ProtocolMeta', 'DeviceMeta', 'thing', 'RULE');
/** Fields a message may carry besides the ones read: kept, never a reason to drop it. */
const extraFields = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 6 }).map((key) => `x_${key}`),
  anyJson,
  { maxKeys: 2 },
);
/** A key as the platform writes it: {"id": …}, the bare id, or a number for a numeric id. */
const keyOf = (id: string) =>
  fc.constantFrom<unknown>({ id }, id, ...(/^(0|[1-9][0-9]*)$/.test(id) ? [Number(id)] : []));
const keyRef = resourceId.chain((id) => keyOf(id).map((key) => ({ id, key })));
/** A related row's change (the message's own table is a kind, so it only turns a create into reload-or-assign). */
const relatedTrigger = fc.record({ o: fc.constantFrom('c', 'u', 'd'), t: otherTable, k: fc.constant({ id: 'L-1' }) });

const finalState = (op: string): boolean | undefined =>
  op === 'c' || op === 'bc' ? true : op === 'd' || op === 'bd' ? false : undefined;

/** c/u/d of one row of a kind, keyed by `k` or by `instance.id`, maybe through a related row's trigger. */
const singleRow = fc
  .record({
    resource: kind,
    op: fc.constantFrom('c', 'u', 'd'),
    ref: keyRef,
    viaInstance: fc.boolean(),
    // One row in five changed through a related row.
    trigger: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: relatedTrigger }),
    extra: extraFields,
  })
  .map(({ resource, op, ref, viaInstance, trigger, extra }) =>
    json(
      {
        ...extra,
        o: op,
        t: resource,
        ...(viaInstance
          ? { instance: { id: typeof ref.key === 'number' ? ref.key : ref.id, name: 'fuzzed row' } }
          : {}),
        ...(viaInstance ? {} : { k: ref.key }),
        ...(trigger ? { trigger } : {}),
      },
      // A create through a trigger reloads, then assigns an id on no instance: it ends assigned too.
      { outcome: 'applied', effects: [{ resource, id: ref.id, assigned: finalState(op) }] },
    ),
  );

/** `where.id` of a bulk update or delete in each form Sequelize writes it, with the ids it names. */
const whereId = (ids: readonly string[]) =>
  fc.constantFrom(
    { id: ids.length === 1 ? ids[0] : [...ids], named: ids },
    { id: { in: ids }, named: ids },
    { id: { $in: ids }, named: ids },
    { id: { eq: ids[0] }, named: ids.slice(0, 1) },
  );

/** bc/bu/bd naming their ids. */
const bulkRows = fc
  .record({ resource: kind, op: fc.constantFrom('bc', 'bu', 'bd'), ids: resourceIds, extra: extraFields })
  .chain(({ resource, op, ids, extra }) =>
    (op === 'bc'
      ? fc.tuple(...ids.map(keyOf)).map((keys) => ({ fields: { keys }, named: ids }))
      : whereId(ids).map(({ id, named }) => ({ fields: { where: { id } }, named }))
    ).map(({ fields, named }) =>
      json(
        { ...extra, o: op, t: resource, ...fields },
        { outcome: 'applied', effects: named.map((id) => ({ resource, id, assigned: finalState(op) })) },
      ),
    ),
  );

/** A related row's message whose trigger names a kind's row: the row's instance is reloaded, nothing else. */
const triggerSide = fc
  .record({
    resource: kind,
    op: fc.constantFrom('c', 'u', 'd', 'x'),
    ref: keyRef,
    ownOp: fc.constantFrom('c', 'u', 'd'),
  })
  .map(({ resource, op, ref, ownOp }) =>
    json(
      { o: ownOp, t: 'Layout', k: { id: 'L-1' }, trigger: { o: op, t: resource, k: ref.key } },
      { outcome: 'applied', effects: [{ resource, id: ref.id, assigned: undefined }] },
    ),
  );

const applied = fc.oneof(singleRow, bulkRows, triggerSide);

const ignored = fc.oneof(
  // Another table, whatever its ids look like: they are never read.
  fc
    .record({ o: fc.constantFrom('c', 'u', 'd', 'bc', 'bd'), t: otherTable, k: fc.oneof(anyJson, badIdString) })
    .map((message) => json(message, { outcome: 'ignored' })),
  // An operation that changes no orchestration.
  fc
    .record({
      o: fc.string({ minLength: 1, maxLength: 4 }).filter((op) => !['c', 'u', 'd', 'bc', 'bu', 'bd'].includes(op)),
      t: kind,
      k: fc.oneof(anyJson, badIdString),
    })
    .map((message) => json(message, { outcome: 'ignored' })),
  // A bulk update or delete whose list is empty.
  fc
    .record({ o: fc.constantFrom('bu', 'bd'), t: kind, where: fc.constantFrom({ id: [] }, { id: { in: [] } }) })
    .map((message) => json(message, { outcome: 'ignored' })),
);

/** A value that is not a resource id in a notify key: bad text, a number that is not a non-negative integer, another type. */
const badBareKey = fc.oneof(badIdString, fc.constantFrom<unknown>(-1, 1.5, 2 ** 60, true, false, [], ['t-0']));
const badKeyId = fc.oneof(badBareKey, fc.constantFrom<unknown>(null, {}, { id: 't-0' }));

const malformedAt = (field: string) => (payload: unknown) => json(payload, { outcome: 'malformed', field });

const malformed: fc.Arbitrary<Generated> = fc.oneof(
  notJsonText.map((text) => ({ payload: text, text, expected: { outcome: 'malformed', field: '' } }) as Generated),
  fc.oneof(fc.double(), fc.boolean(), fc.constant(null), fc.array(anyJson, { maxLength: 3 })).map(malformedAt('')),
  fc
    .record({
      o: fc.constantFrom<unknown>(undefined, '', 5, null, {}, ['c'], true),
      t: kind,
      k: fc.constant({ id: 't-0' }),
    })
    .map(({ o, ...rest }) => (o === undefined ? rest : { o, ...rest }))
    .map(malformedAt('o')),
  fc
    .record({ o: fc.constantFrom('c', 'd'), t: fc.constantFrom<unknown>(undefined, '', 7, null, { t: 'Thing' }) })
    .map(({ t, ...rest }) => (t === undefined ? rest : { t, ...rest }))
    .map(malformedAt('t')),
  fc
    .record({ trigger: fc.constantFrom<unknown>(5, 'Thing', null, [], true), t: kind })
    .map(({ trigger, t }) => ({ o: 'c', t, k: { id: 't-0' }, trigger }))
    .map(malformedAt('trigger')),
  fc
    .record({ t: kind, trigger: fc.constantFrom({}, { t: 'Thing' }, { o: '', t: 'Thing' }) })
    .map(({ t, trigger }) => ({ o: 'c', t, k: { id: 't-0' }, trigger }))
    .map(malformedAt('trigger.o')),
  fc.record({ o: fc.constantFrom('c', 'u', 'd'), t: kind, k: badKeyId.map((id) => ({ id })) }).map(malformedAt('k.id')),
  fc.record({ o: fc.constantFrom('c', 'u', 'd'), t: kind, k: badBareKey }).map(malformedAt('k')),
  fc.record({ o: fc.constantFrom('c', 'u', 'd'), t: kind }).map(malformedAt('k')),
  fc
    .record({ o: fc.constantFrom('c', 'u', 'd'), t: kind, instance: badKeyId.map((id) => ({ id, name: 'x' })) })
    .map(malformedAt('instance.id')),
  fc
    .record({ o: fc.constant('bc'), t: kind, keys: fc.constantFrom<unknown>('t-0', 5, {}, true, { id: 't-0' }) })
    .map(malformedAt('keys')),
  fc
    .record({ t: kind, good: fc.array(resourceId, { maxLength: 3 }), bad: badBareKey })
    .map(({ t, good, bad }) =>
      json({ o: 'bc', t, keys: [...good, bad] }, { outcome: 'malformed', field: `keys.${good.length}` }),
    ),
  fc
    .record({ o: fc.constantFrom('bu', 'bd'), t: kind, good: fc.array(resourceId, { maxLength: 3 }), bad: badBareKey })
    .chain(({ o, t, good, bad }) =>
      fc
        .constantFrom<unknown>([...good, bad], { in: [...good, bad] }, { $in: [...good, bad] }, { between: good })
        .map((id) => json({ o, t, where: { id } }, { outcome: 'malformed', field: 'where.id' })),
    ),
  fc
    .record({ resource: kind, bad: badKeyId })
    .map(({ resource, bad }) =>
      json(
        { o: 'u', t: 'Layout', k: { id: 'L-1' }, trigger: { o: 'u', t: resource, k: { id: bad } } },
        { outcome: 'malformed', field: 'trigger.k.id' },
      ),
    ),
);

/** JSON of any shape that names no kind (so it cannot be a well-formed message of one by chance). */
const junk = anyJson
  .filter((value) => !/Thing|Rule/.test(JSON.stringify(value)))
  .map((value) => json(value, { outcome: 'junk' }));

const poison = fc.oneof(malformed, ignored, junk);
const anyMessage = fc.oneof({ arbitrary: applied, weight: 2 }, { arbitrary: poison, weight: 3 });

/* ----------------------------------------------------------- judging */

const fieldMatches = (named: string, expected: string): boolean =>
  named === expected || (expected !== '' && named.startsWith(`${expected}.`));

type Assignments = Map<string, Map<string, string>>;

async function assignments(): Promise<Assignments> {
  return new Map(
    await Promise.all(KINDS.map(async (resource) => [resource, await readAssignments(store(), resource)] as const)),
  );
}

/** Each id ends as the batch's last create or delete of it says; every other id stays where it was. */
function expectAppliedInOrder(before: Assignments, after: Assignments, messages: readonly Generated[]): void {
  const wanted = new Map(KINDS.map((resource) => [resource, new Map<string, boolean>()]));
  for (const { expected } of messages)
    if (expected.outcome === 'applied')
      for (const { resource, id, assigned } of expected.effects)
        if (assigned !== undefined) wanted.get(resource)!.set(id, assigned);
  for (const resource of KINDS) {
    const [was, now, asked] = [before.get(resource)!, after.get(resource)!, wanted.get(resource)!];
    for (const id of new Set([...was.keys(), ...now.keys(), ...asked.keys()])) {
      const assigned = asked.get(id);
      if (assigned === undefined || (assigned && was.has(id)))
        expect(now.get(id), `${resource} ${id} stays where it was`).toBe(was.get(id));
      else expect(now.has(id), `${resource} ${id} assigned`).toBe(assigned);
    }
  }
}

const count = (messages: readonly Generated[], outcome: Expected['outcome']) =>
  messages.filter((message) => message.expected.outcome === outcome).length;

describe('notify function under fuzzed messages', () => {
  it('applies the well-formed messages of an SQS batch and drops and counts the poison, which changes nothing', {
    timeout: fuzzTimeout(15),
  }, async () => {
    const batch = fc.oneof(
      fc.array(poison, { minLength: 1, maxLength: 8 }),
      fc.array(anyMessage, { minLength: 1, maxLength: 8 }),
    );
    await fc.assert(
      fc.asyncProperty(batch, async (messages) => {
        const poisonOnly = count(messages, 'applied') === 0;
        // Poison alone must leave every node as it was; with well-formed messages, the assignments are what tell.
        const expectUnchanged = await unchanged.start(poisonOnly);
        const before = poisonOnly ? undefined : await assignments();
        metrics.take();

        const response = await handler({
          Records: messages.map((message, i) => ({
            messageId: `m-${i}`,
            receiptHandle: `r-${i}`,
            body: message.text,
            attributes: { ApproximateReceiveCount: '1' },
            messageAttributes: {},
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:iota-orchestrator-notify',
            awsRegion: 'eu-west-1',
          })),
        });

        expect(response).toEqual({ batchItemFailures: [] });
        const counted = metrics.take();
        const malformedCount = counted[NOTIFY_METRICS.malformed] ?? 0;
        const ignoredCount = counted[NOTIFY_METRICS.ignored] ?? 0;
        expect(counted[NOTIFY_METRICS.messages]).toBe(messages.length);
        expect(malformedCount).toBeGreaterThanOrEqual(count(messages, 'malformed'));
        expect(ignoredCount).toBeGreaterThanOrEqual(count(messages, 'ignored'));
        expect(malformedCount + ignoredCount).toBe(
          count(messages, 'malformed') + count(messages, 'ignored') + count(messages, 'junk'),
        );
        if (before) expectAppliedInOrder(before, await assignments(), messages);
        else await expectUnchanged();
      }),
      fuzzParameters(),
    );
  });

  it('takes any direct invocation as one message: a malformed one is dropped naming its field, changing nothing', {
    timeout: fuzzTimeout(10),
  }, async () => {
    const direct = fc.oneof(anyMessage, fc.constant(json(undefined, { outcome: 'junk' })));
    await fc.assert(
      fc.asyncProperty(direct, async (message) => {
        const applies = message.expected.outcome === 'applied';
        const expectUnchanged = await unchanged.start(!applies);
        const before = applies ? await assignments() : undefined;

        const result = (await handler(message.payload)) as NotifyBatchResult;

        expect(result).toMatchObject({ records: 1, failed: [] });
        const { expected } = message;
        if (expected.outcome === 'malformed') {
          expect(result.malformed).toHaveLength(1);
          expect(result.malformed[0]!.field, result.malformed[0]!.reason).toSatisfy((field: string) =>
            fieldMatches(field, expected.field),
          );
        }
        if (expected.outcome === 'ignored') expect(result.ignored).toBe(1);
        if (expected.outcome === 'junk') expect(result.malformed.length + result.ignored).toBe(1);
        if (before) expectAppliedInOrder(before, await assignments(), [message]);
        else await expectUnchanged();
      }),
      fuzzParameters(),
    );
  });
});
