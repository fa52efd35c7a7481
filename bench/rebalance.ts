/**
 * Rebalance at full scale: 500,000 resources spread evenly over 100 instances
 * (5000 each), rebalanced to 101 and to 99 instances, against the legacy
 * from-scratch method. Prints figures; asserts nothing.
 *
 *   npx tsx bench/rebalance.ts
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { rebalance } from '../lib/domain/rebalance.js';
import { legacyOrchestrate } from '../test/support/legacy.js';
import { countMoves } from '../test/support/plans.js';

const RESOURCES = 500_000;
const START_INSTANCES = 100;
const CAPACITY = 5000;
const RUNS = 5;
const TARGET_MS = 1000;
const TARGET_MOVE_RATIO = 1.05;

/** Version-4-shaped UUIDs from a seeded generator (mulberry32): the same ids on every run. */
function deterministicUuids(count: number, seed = 0x10ad): string[] {
  let state = seed >>> 0;
  const next32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const hex = (value: number): string => value.toString(16).padStart(8, '0');
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const a = hex(next32());
    const b = hex(next32());
    const c = hex(next32());
    const d = hex(next32());
    const variant = ((parseInt(c[0] ?? '0', 16) & 0x3) | 0x8).toString(16);
    ids.push(`${a}-${b.slice(0, 4)}-4${b.slice(5)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`);
  }
  return ids;
}

/** `global.gc` without requiring the caller to pass --expose-gc. */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : () => undefined;
}

interface Measured<T> {
  result: T;
  medianMs: number;
  minMs: number;
  heapDeltaMb: number;
}

function measure<T>(run: () => T, gc: () => void): Measured<T> {
  const times: number[] = [];
  let result: T | undefined;
  let heapDeltaMb = 0;
  // Untimed warm-up: compiles the code and flattens the generated id strings (compare flattens them).
  run();
  for (let i = 0; i < RUNS; i += 1) {
    result = undefined;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const start = performance.now();
    result = run();
    times.push(performance.now() - start);
    // Heap still held by the result of the first run, after collecting the garbage.
    if (i === 0) {
      gc();
      heapDeltaMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    }
  }
  times.sort((x, y) => x - y);
  return { result: result as T, medianMs: times[Math.floor(RUNS / 2)] ?? 0, minMs: times[0] ?? 0, heapDeltaMb };
}

export async function benchRebalance(log: (line: string) => void = console.log): Promise<void> {
  const gc = collectGarbage();
  const ids = deterministicUuids(RESOURCES);
  const start = new Map(
    Array.from({ length: START_INSTANCES }, (_, i) => [String(i), ids.slice(i * CAPACITY, (i + 1) * CAPACITY)]),
  );

  log(`rebalance: ${RESOURCES} resources over ${START_INSTANCES} instances x ${CAPACITY}, ${RUNS} runs each`);
  const header = ['method', 'to', 'capacity', 'median ms', 'min ms', 'moved', 'minimum', 'heap MB'];
  const rows: string[][] = [header];
  const row = (
    method: string,
    target: number,
    capacity: number,
    timing: Measured<unknown>,
    moved: number,
    minimum: number,
  ) =>
    rows.push([
      method,
      String(target),
      String(capacity),
      timing.medianMs.toFixed(1),
      timing.minMs.toFixed(1),
      String(moved),
      String(minimum),
      timing.heapDeltaMb.toFixed(1),
    ]);
  let verdict = '';

  for (const target of [START_INSTANCES + 1, START_INSTANCES - 1]) {
    const capacity = Math.max(CAPACITY, Math.ceil(RESOURCES / target));
    if (capacity !== CAPACITY) {
      log(
        `  to ${target}: ${target} x ${CAPACITY} < ${RESOURCES}, so capacity is raised to ceil(${RESOURCES}/${target}) = ${capacity}`,
      );
    }

    const ours = measure(() => rebalance(start, target, capacity), gc);
    const { moved, minimumMoves } = ours.result;
    row('rebalance', target, capacity, ours, moved, minimumMoves);

    // Legacy fills instance after instance, so it needs ceil(N / target) per instance to use them all.
    const perInstance = Math.ceil(RESOURCES / target);
    const legacy = measure(() => legacyOrchestrate(ids, target, perInstance), gc);
    row('legacy', target, perInstance, legacy, countMoves(start, legacy.result), minimumMoves);

    if (target === START_INSTANCES + 1) {
      const ratio = minimumMoves === 0 ? (moved === 0 ? 1 : Infinity) : moved / minimumMoves;
      const pass = ours.medianMs < TARGET_MS && ratio <= TARGET_MOVE_RATIO;
      verdict =
        `  target ${START_INSTANCES}->${target}: median < ${TARGET_MS} ms and moved <= ${TARGET_MOVE_RATIO} x minimum: ` +
        `${pass ? 'PASS' : 'FAIL'} (${ours.medianMs.toFixed(1)} ms, moved/minimum ${ratio.toFixed(3)})`;
    }
  }

  const widths = header.map((_, column) => Math.max(...rows.map((cells) => (cells[column] ?? '').length)));
  const align = (cell: string, column: number): string =>
    column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0);
  for (const cells of rows) log(`  ${cells.map(align).join('  ')}`);
  log(verdict);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRebalance();
}
