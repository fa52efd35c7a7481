/** cm/notify create messages as one SQS batch would carry them: `size` new Things named `<prefix>-<i>`. */
import type { NotifyRecord } from '../../lib/handlers/notify-batch.js';

export const createBatch = (prefix: string, size: number): NotifyRecord[] =>
  Array.from({ length: size }, (_, i) => {
    const id = `${prefix}-${i}`;
    return { id, payload: JSON.stringify({ o: 'c', t: 'Thing', k: { id }, instance: { id, name: `thing ${i}` } }) };
  });
