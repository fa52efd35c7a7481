import type { CapacityExhaustedAlert } from '../../lib/alerts.js';

/** A capacity-exhausted alert on Thing raised at `at`: the alert api and notify raise, in the outbox tests. */
export const capacityAlert = (at: number): CapacityExhaustedAlert => ({
  type: 'capacity-exhausted',
  resource: 'Thing',
  maxInstances: 3,
  resourcePerInstance: 1,
  pending: 1,
  at,
});
