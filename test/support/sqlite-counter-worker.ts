/**
 * Child process of the SQLite multi-process test: opens the store in the given
 * data directory, waits for "go" on stdin so every worker starts at once, then
 * performs read-modify-write increments of one counter node with compare-and-set.
 * Prints {"conflicts":N} (retries it needed) on stdout.
 *
 * Usage: node --import tsx sqlite-counter-worker.ts <dataDir> <path> <increments>
 */
import { createInterface } from 'node:readline';
import { SqliteStore } from '../../lib/store/sqlite.js';
import { StoreUnavailableError, isConflict, parentOf, withRetry } from '../../lib/store/port.js';

const [dataDir, path, incrementsArg] = process.argv.slice(2);
if (!dataDir || !path || !incrementsArg) throw new Error('usage: sqlite-counter-worker <dataDir> <path> <increments>');
const increments = Number(incrementsArg);

const store = SqliteStore.open({ dataDir });
await store.ensurePath(parentOf(path));
try {
  await store.commit([{ op: 'create', path, data: '0' }]);
} catch (error) {
  if (!(isConflict(error) && error.reason === 'NodeExists')) throw error;
}

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'go') break;
lines.close();

let conflicts = 0;
for (let i = 0; i < increments; i++) {
  await withRetry(
    async () => {
      const node = await store.get(path);
      if (!node) throw new Error(`${path} vanished`);
      try {
        await store.commit([{ op: 'set', path, data: String(Number(node.data) + 1), version: node.version }]);
      } catch (error) {
        if (isConflict(error)) conflicts += 1;
        throw error;
      }
    },
    {
      attempts: 1000,
      baseDelayMs: 1,
      maxDelayMs: 10,
      retryOn: (error) => isConflict(error) || error instanceof StoreUnavailableError,
    },
  );
}
await store.close();
process.stdout.write(`${JSON.stringify({ conflicts })}\n`);
