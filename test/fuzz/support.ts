/**
 * What the handler fuzz suites share. Each suite runs a Lambda entry point of
 * functions/ as a warm container runs it (one App for every invocation, on an
 * embedded store in a temporary directory of its own) against events that
 * fast-check generates, and judges the answers and the store's end state
 * through a second, independent handle on the same store.
 *
 * FUZZ_RUNS is the number of cases per property: 2,000 unless set
 * (`npm test`); `npm run fuzz` sets 100,000. A failure prints fast-check's
 * seed and path; FUZZ_SEED replays a seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type fc from 'fast-check';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { sharedApp } from '../../lib/app.js';
import { DEFAULT_KINDS } from '../../lib/config/kinds.js';
import { decodeName, Layout } from '../../lib/orchestration/layout.js';
import { openStore } from '../../lib/store/open.js';
import type { NodeStore } from '../../lib/store/port.js';
import { placements, readLegacyLayout } from '../integration/handlers/layout-snapshot.js';

function integerFromEnv(name: string, min: number): number | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${raw}`);
  return value;
}

export const FUZZ_RUNS = integerFromEnv('FUZZ_RUNS', 1) ?? 2000;
// fast-check prints negative seeds too.
const FUZZ_SEED = integerFromEnv('FUZZ_SEED', Number.MIN_SAFE_INTEGER);

/** fast-check's parameters for one property: FUZZ_RUNS cases, FUZZ_SEED when replaying. */
export const fuzzParameters = (): fc.Parameters<unknown> => ({
  numRuns: FUZZ_RUNS,
  ...(FUZZ_SEED === undefined ? {} : { seed: FUZZ_SEED }),
});

/**
 * A test's timeout for FUZZ_RUNS cases of about `msPerCase` each, with room
 * for a loaded machine; never below the config's 60 s.
 */
export const fuzzTimeout = (msPerCase: number): number => Math.max(60_000, Math.ceil(FUZZ_RUNS * msPerCase * 5));

/** The kinds of the default configuration: the handlers under test run with it. */
export const KINDS = DEFAULT_KINDS.map((kind) => kind.resource);
export const LAYOUT = new Layout();

/**
 * Registers the hooks of a warm container: the environment a deployed
 * function sees (no IS_LOCAL, so every invocation shares the container's
 * App) on an embedded store of its own, plus `extra`. Returns the store as
 * an observer opens it.
 */
export function useWarmContainer(label: string, extra: Record<string, string> = {}): () => NodeStore {
  const saved = { ...process.env };
  let dataDir: string;
  let observer: NodeStore | undefined;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), `fuzz-${label}-`));
    Object.assign(process.env, { ORCH_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...extra });
    for (const name of ['IS_LOCAL', 'ZK_CONNECT', 'ZK_ROOT', 'ZK_STATE_ROOT', 'ORCH_KINDS', 'CATALOG_URL'])
      delete process.env[name];
    observer = await openStore(process.env);
  });
  afterAll(async () => {
    await observer?.close();
    // The App the first invocation created: closing it ends the container (each test file is a process of its own).
    await (await sharedApp()).close();
    process.env = { ...saved };
    rmSync(dataDir, { recursive: true, force: true });
  });
  return () => {
    if (!observer) throw new Error('the store is open only while the suite runs');
    return observer;
  };
}

/** Every node of the store, path → "version:data", read from the root down. */
async function storeSnapshot(store: NodeStore): Promise<Map<string, string>> {
  const nodes = new Map<string, string>();
  const visit = async (path: string): Promise<void> => {
    const paths = (await store.children(path)).map((name) => (path === '/' ? `/${name}` : `${path}/${name}`));
    for (const node of await store.getMany(paths)) if (node) nodes.set(node.path, `${node.version}:${node.data}`);
    for (const child of paths) await visit(child);
  };
  await visit('/');
  return nodes;
}

/**
 * Proves that cases change nothing, reading the store once per case where it
 * can: the snapshot a checked case ends with is the next case's start. Every
 * case calls `start` before the handler runs (one that may write passes
 * false), and calls the check it gets back once the handler is done.
 */
export function unchangedStore(store: () => NodeStore) {
  let known: Map<string, string> | undefined;
  return {
    async start(checked: boolean): Promise<() => Promise<void>> {
      const before = checked ? (known ?? (await storeSnapshot(store()))) : undefined;
      known = undefined;
      return async () => {
        if (!before) throw new Error('this case was started unchecked');
        const after = await storeSnapshot(store());
        expect(after).toEqual(before);
        known = after;
      };
    },
  };
}

/**
 * Where each resource of the kind is assigned, read straight from the legacy
 * lists; throws when a resource sits on two instances, when an instance's
 * `used` is not the length of its list, or when the index disagrees with the
 * lists.
 */
export async function readAssignments(store: NodeStore, resource: string): Promise<Map<string, string>> {
  const instances = await readLegacyLayout(store, LAYOUT.root, resource);
  for (const instance of instances)
    if (instance.used !== instance.ids.length)
      throw new Error(`instance ${resource}/${instance.id}: used ${instance.used}, ${instance.ids.length} ids`);
  const placed = placements(instances);
  const names = await store.children(LAYOUT.indexDir(resource));
  const entries = await store.getMany(names.map((name) => `${LAYOUT.indexDir(resource)}/${name}`));
  const index = new Map(names.map((name, i) => [decodeName(name), entries[i]?.data]));
  const sorted = (map: Map<string, string | undefined>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (JSON.stringify(sorted(index)) !== JSON.stringify(sorted(placed)))
    throw new Error(`${resource}: the index and the instance lists disagree`);
  return placed;
}

/**
 * Keeps the EMF lines (lib/metrics.ts) the handler flushes to stdout instead
 * of printing them; `take()` returns the counters written since the last
 * call, summed.
 */
export function captureMetrics(): { take(): Record<string, number> } {
  let lines: string[] = [];
  beforeAll(() => {
    const write = process.stdout.write.bind(process.stdout);
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      if (!text.startsWith('{"_aws"')) return write(chunk, ...rest);
      lines.push(text);
      return true;
    }) as typeof process.stdout.write);
  });
  afterAll(() => {
    vi.restoreAllMocks();
  });
  return {
    take() {
      const counters: Record<string, number> = {};
      for (const line of lines) {
        const { _aws: emf, ...fields } = JSON.parse(line) as Record<string, unknown> & {
          _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> };
        };
        for (const { Name } of emf.CloudWatchMetrics.flatMap((entry) => entry.Metrics))
          counters[Name] = (counters[Name] ?? 0) + Number(fields[Name]);
      }
      lines = [];
      return counters;
    },
  };
}
