/**
 * What each cm/notify message asks of the orchestrator (planNotify), and how
 * payloads are validated. Pure: no store involved.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_KINDS, type KindConfig } from '../../../lib/config/kinds.js';
import {
  parseNotifyPayload,
  planNotify,
  validateNotifyMessage,
  type NotifyMessage,
  type NotifyPlan,
} from '../../../lib/handlers/notify.js';
import { sampleEvent } from './fixtures.js';

const THING = '6d1c2f0e-3b8a-4c57-9f2e-1a2b3c4d5e6f';

const plan = (message: unknown, kinds: readonly KindConfig[] = DEFAULT_KINDS): NotifyPlan => {
  const parsed = validateNotifyMessage(message);
  if (!parsed.ok) throw new Error(`fixture is not a valid envelope: ${parsed.reason}`);
  return planNotify(parsed.message, kinds);
};

describe('planNotify: the message names a configured kind', () => {
  it.each([
    ['notify-create-thing.json', 'assign', [THING]],
    ['notify-update-thing.json', 'reload', [THING]],
    ['notify-delete-thing.json', 'unassign', [THING]],
    [
      'notify-bulk-create-things.json',
      'assign',
      [
        'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51',
        'c0ffee00-1234-4abc-9def-00112233aabb',
        'e8b1d3a7-5c2f-4f60-b9d4-7a3e2c1b0f98',
      ],
    ],
    [
      'notify-bulk-update-things.json',
      'reload',
      ['a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51', 'c0ffee00-1234-4abc-9def-00112233aabb'],
    ],
    [
      'notify-bulk-delete-things.json',
      'unassign',
      [
        'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51',
        'c0ffee00-1234-4abc-9def-00112233aabb',
        'e8b1d3a7-5c2f-4f60-b9d4-7a3e2c1b0f98',
      ],
    ],
  ])('%s → %s of its ids', (name, action, ids) => {
    const result = plan(sampleEvent(name));

    expect(result).toEqual({ action, resource: 'Thing', ids, via: 'message', assignUnplaced: false });
  });

  it('assigns a Rule to the rules engine kind', () => {
    expect(plan(sampleEvent('notify-create-rule.json'))).toMatchObject({ action: 'assign', resource: 'Rule' });
  });

  it('takes the id from instance.id when the key is missing', () => {
    expect(plan({ o: 'c', t: 'Thing', instance: { id: 'T-1', name: 'x' } })).toMatchObject({
      action: 'assign',
      ids: ['T-1'],
    });
  });

  it('accepts the key as a bare id and integer ids as their decimal text', () => {
    expect(plan({ o: 'd', t: 'Thing', k: 'T-1' })).toMatchObject({ ids: ['T-1'] });
    expect(plan({ o: 'c', t: 'Thing', k: { id: 42 } })).toMatchObject({ ids: ['42'] });
  });

  it.each([
    ['a single id', 'T-1', ['T-1']],
    ['an array', ['T-1', 'T-2'], ['T-1', 'T-2']],
    ['Sequelize Op.in as {"in": …}', { in: ['T-1', 'T-2'] }, ['T-1', 'T-2']],
    ['Sequelize Op.in as {"$in": …}', { $in: ['T-1'] }, ['T-1']],
    ['Op.eq as {"eq": …}', { eq: 'T-3' }, ['T-3']],
    ['{id} objects in a list', [{ id: 'T-1' }, 'T-2'], ['T-1', 'T-2']],
  ])('reads where.id given as %s', (_label, id, ids) => {
    expect(plan({ o: 'bd', t: 'Thing', where: { id } })).toMatchObject({ action: 'unassign', ids });
  });

  it('names each id once even when the message repeats it', () => {
    expect(plan({ o: 'bc', t: 'Thing', keys: ['T-1', { id: 'T-1' }, 'T-2'] })).toMatchObject({ ids: ['T-1', 'T-2'] });
  });

  it('asks for a catalog reconcile when a bulk create names no keys', () => {
    const result = plan(sampleEvent('notify-bulk-create-without-keys.json'));

    expect(result).toMatchObject({ action: 'reconcile-needed', resource: 'Thing', op: 'bc' });
  });

  it('asks for a catalog reconcile when a bulk delete filters on something other than id', () => {
    expect(plan({ o: 'bd', t: 'Thing', where: { userId: 'u-1' } })).toMatchObject({
      action: 'reconcile-needed',
      op: 'bd',
    });
  });

  it('ignores an operation that changes no orchestration', () => {
    expect(plan({ o: 'x', t: 'Thing' })).toMatchObject({ action: 'ignore' });
  });
});

describe('planNotify: triggers', () => {
  it("reloads the trigger's resource when only the trigger's table is a kind (a Layout changed its Thing)", () => {
    const result = plan(sampleEvent('notify-trigger-layout.json'));

    expect(result).toEqual({
      action: 'reload',
      resource: 'Thing',
      ids: [THING],
      via: 'trigger',
      assignUnplaced: false,
    });
  });

  it('never assigns or unassigns through a trigger, whatever its op', () => {
    const created = plan({ o: 'c', t: 'Layout', k: { id: 'L-1' }, trigger: { o: 'c', t: 'Thing', k: { id: 'T-1' } } });
    const deleted = plan({ o: 'd', t: 'Layout', k: { id: 'L-1' }, trigger: { o: 'd', t: 'Thing', k: { id: 'T-1' } } });

    expect(created).toMatchObject({ action: 'reload', via: 'trigger' });
    expect(deleted).toMatchObject({ action: 'reload', via: 'trigger' });
  });

  it("reloads rather than assigns the message's own row when the message's table is a kind and it has a trigger", () => {
    const result = plan({ o: 'c', t: 'Thing', k: { id: 'T-1' }, trigger: { o: 'c', t: 'Layout', k: { id: 'L-1' } } });

    expect(result).toEqual({ action: 'reload', resource: 'Thing', ids: ['T-1'], via: 'message', assignUnplaced: true });
  });

  it('still unassigns a deleted row that carries a trigger', () => {
    const result = plan({ o: 'd', t: 'Thing', k: { id: 'T-1' }, trigger: { o: 'd', t: 'Layout', k: { id: 'L-1' } } });

    expect(result).toMatchObject({ action: 'unassign', ids: ['T-1'] });
  });

  it("lets the message's side win when both tables are kinds", () => {
    const result = plan({ o: 'u', t: 'Rule', k: { id: 'R-1' }, trigger: { o: 'u', t: 'Thing', k: { id: 'T-1' } } });

    expect(result).toMatchObject({ action: 'reload', resource: 'Rule', ids: ['R-1'], via: 'message' });
  });

  it('reads the trigger of a bulk op by its own op', () => {
    const result = plan({
      o: 'bu',
      t: 'Layout',
      where: { thingId: 'T-1' },
      trigger: { o: 'bu', t: 'Thing', where: { id: ['T-1', 'T-2'] } },
    });

    expect(result).toMatchObject({ action: 'reload', ids: ['T-1', 'T-2'], via: 'trigger' });
  });
});

describe('planNotify: kinds come from configuration', () => {
  it('ignores tables that are not configured kinds', () => {
    expect(plan(sampleEvent('notify-ignored-table.json'))).toMatchObject({ action: 'ignore' });
    expect(plan({ o: 'c', t: 'DeviceMeta', k: { id: 'd-1' } })).toMatchObject({ action: 'ignore' });
  });

  it('orchestrates a table once it is configured as a kind, and no longer the defaults it replaced', () => {
    const kinds: KindConfig[] = [{ resource: 'Gateway', instanceName: 'iota-gw', heartbeat: true, initInstances: 2 }];

    expect(plan({ o: 'c', t: 'Gateway', k: { id: 'G-1' } }, kinds)).toMatchObject({
      action: 'assign',
      resource: 'Gateway',
    });
    expect(plan({ o: 'c', t: 'Thing', k: { id: 'T-1' } }, kinds)).toMatchObject({ action: 'ignore' });
  });
});

describe('malformed messages', () => {
  it.each([
    ['an invalid key', { o: 'c', t: 'Thing', k: { id: 'has space' } }, 'k.id'],
    ['a missing key', { o: 'd', t: 'Thing' }, 'k'],
    ['an empty id', { o: 'c', t: 'Thing', k: '' }, 'k'],
    ['a key of the wrong type', { o: 'c', t: 'Thing', k: { id: true } }, 'k.id'],
    ['a bad id inside keys', { o: 'bc', t: 'Thing', keys: ['ok', { id: '../x' }] }, 'keys.1.id'],
    ['keys that are not a list', { o: 'bc', t: 'Thing', keys: 'T-1' }, 'keys'],
    ['a bad id in where.id.in', { o: 'bd', t: 'Thing', where: { id: { in: ['ok', 'no/slash'] } } }, 'where.id.in.1'],
    ['an unknown where operator', { o: 'bd', t: 'Thing', where: { id: { like: 'T-%' } } }, 'where.id'],
    ['a bad trigger key', { o: 'c', t: 'Layout', trigger: { o: 'u', t: 'Thing', k: { id: 'a b' } } }, 'trigger.k.id'],
  ])('reports %s, naming the field', (_label, message, field) => {
    const result = plan(message);

    expect(result).toMatchObject({ action: 'malformed', field });
    expect(result.action === 'malformed' && result.reason).toContain(field);
  });

  it.each([
    ['no operation', { t: 'Thing', k: { id: 'T-1' } }, 'o'],
    ['no table', { o: 'c', k: { id: 'T-1' } }, 't'],
    ['a trigger without a table', { o: 'c', t: 'Layout', trigger: { o: 'u' } }, 'trigger.t'],
    ['an array', [1, 2], ''],
    ['null', null, ''],
  ])('refuses an envelope with %s', (_label, message, field) => {
    const result = validateNotifyMessage(message);

    expect(result).toMatchObject({ ok: false, field });
  });
});

describe('parseNotifyPayload', () => {
  it('parses an MQTT payload given as a Buffer', () => {
    const result = parseNotifyPayload(Buffer.from(JSON.stringify({ o: 'c', t: 'Thing', k: { id: 'T-1' } })));

    expect(result).toEqual({ ok: true, message: { o: 'c', t: 'Thing', k: { id: 'T-1' } } satisfies NotifyMessage });
  });

  it('reports a payload that is not JSON', () => {
    const result = parseNotifyPayload('o=c&t=Thing');

    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/^payload is not JSON/) });
  });

  it('reads a payload that is a view into a larger buffer, and only its own bytes', () => {
    const whole = Buffer.from(`xxxx${JSON.stringify({ o: 'd', t: 'Rule', k: 'R-1' })}yyyy`);
    const view = whole.subarray(4, whole.length - 4);

    expect(parseNotifyPayload(view)).toMatchObject({ ok: true, message: { o: 'd', t: 'Rule' } });
  });
});
