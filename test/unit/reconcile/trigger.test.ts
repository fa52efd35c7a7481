import { describe, expect, it } from 'vitest';
import { parseReconcileTrigger } from '../../../lib/reconcile/trigger.js';

const SCHEDULED = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2024-05-01T08:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/iota-orchestrator-reconcile'],
  detail: {},
};

describe('reconcile trigger', () => {
  it('accepts an EventBridge scheduled event and keeps its fields', () => {
    expect(parseReconcileTrigger(SCHEDULED)).toEqual({ ok: true, trigger: SCHEDULED });
  });

  it('accepts a manual trigger that carries only source, detail-type and time', () => {
    const manual = { source: 'operator', 'detail-type': 'Manual Reconcile', time: '2024-05-01T08:00:00.000Z' };

    expect(parseReconcileTrigger(manual)).toEqual({ ok: true, trigger: manual });
  });

  it.each([
    [{ ...SCHEDULED, source: undefined }, 'source'],
    [{ ...SCHEDULED, 'detail-type': 42 }, 'detail-type'],
    [{ ...SCHEDULED, time: 'yesterday' }, 'time'],
  ])('rejects an envelope with a bad field, naming it: %#', (event, field) => {
    expect(parseReconcileTrigger(event)).toMatchObject({ ok: false, field });
  });

  it('rejects something that is not an object at all', () => {
    expect(parseReconcileTrigger('tick')).toMatchObject({ ok: false, field: '(event)' });
  });
});
