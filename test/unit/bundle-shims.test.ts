/**
 * The bundle shims (infra/bundle-shims/, listed in infra/esbuild-plugins.cjs): each replaces a module for
 * the packages listed with it, so each must offer everything those packages take from the module (read
 * from their sources, so an upgrade that calls something new fails here) and behave as the module does.
 * test/integration/handlers/bundles-on-zookeeper.test.ts runs the bundles that carry them on ZooKeeper.
 */
import type { AssertionError } from 'node:assert';
import nodeAssert from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './handlers/fixtures.js';

const require = createRequire(import.meta.url);
const run = promisify(execFile);
const plugins = require('../../infra/esbuild-plugins.cjs') as { BUNDLE_SHIMS: Record<string, string[]> };
const shim = (module: string): unknown => require(join(REPO_ROOT, 'infra', 'bundle-shims', `${module}.cjs`));

/** The package's own JavaScript files (not its tests). */
function sources(pkg: string, dir = join(REPO_ROOT, 'node_modules', pkg)): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory())
      return ['node_modules', 'test', 'tests', 'benchmarks', 'examples', 'docs'].includes(entry.name)
        ? []
        : sources(pkg, join(dir, entry.name));
    return /\.(c|m)?js$/.test(entry.name) ? [join(dir, entry.name)] : [];
  });
}

/**
 * What a source takes from `module`: the members read from the name it is required as (`u.shuffle`,
 * `{ isMainThread } = require(…)`), and `()` when that name itself is called. Undefined: not required.
 */
function usesOf(source: string, module: string): Set<string> | undefined {
  const required = new RegExp(
    `(?:const|let|var)\\s+([\\w$]+|\\{[^}]*\\})\\s*=\\s*require\\(['"](?:node:)?${module}['"]\\)`,
  );
  const binding = required.exec(source)?.[1];
  if (binding === undefined) return undefined;
  if (binding.startsWith('{'))
    return new Set(
      binding
        .slice(1, -1)
        .split(',')
        .map((name) => name.split(':')[0]!.trim())
        .filter(Boolean),
    );
  const uses = new Set<string>();
  for (const [, member] of source.matchAll(new RegExp(`(?<![\\w$.])${binding.replace('$', '\\$')}\\.([\\w$]+)`, 'g')))
    uses.add(member!);
  if (new RegExp(`(?<![\\w$.])${binding}\\s*\\(`).test(source)) uses.add('()');
  return uses;
}

describe('bundle shims', () => {
  it.each(Object.entries(plugins.BUNDLE_SHIMS))(
    'the %s shim offers everything its importers take from it',
    (module, importers) => {
      const offered = shim(module) as Record<string, unknown>;
      const users: string[] = [];
      for (const pkg of importers)
        for (const file of sources(pkg)) {
          const uses = usesOf(readFileSync(file, 'utf8'), module);
          if (!uses) continue;
          users.push(file);
          for (const use of uses) {
            // A member read is offered, with the module's type: a function called, a value (isMainThread) read.
            const real = (require(module) as Record<string, unknown>)[use];
            if (use === '()') expect(typeof offered, `${file} calls ${module}`).toBe('function');
            else expect(typeof offered[use], `${file} uses ${module}.${use}`).toBe(typeof real);
          }
        }
      // Each listed importer requires the module: a package that stopped needing it is dropped from the list.
      for (const pkg of importers)
        expect(
          users.some((file) => file.includes(`/node_modules/${pkg}/`)),
          pkg,
        ).toBe(true);
    },
  );

  it('assert throws as node:assert does: same falsy values, name, code and message; an Error message as it is', () => {
    const assert = shim('assert') as (value: unknown, message?: string | Error) => void;
    fc.assert(
      fc.property(fc.anything(), fc.string(), (value, message) => {
        const outcome = (check: typeof assert) => {
          try {
            check(value, message);
            return undefined;
          } catch (error) {
            const { name, code, message: text } = error as AssertionError;
            return { name, code, text };
          }
        };
        expect(outcome(assert)).toEqual(outcome(nodeAssert));
      }),
      { numRuns: 500 },
    );
    const given = new RangeError('out of range');
    expect(() => assert(0, given)).toThrow(given);
    expect(() => assert(false)).toThrow(expect.objectContaining({ name: 'AssertionError', code: 'ERR_ASSERTION' }));
  });

  it('underscore: clone and defaults as the whole library; shuffle a permutation', () => {
    const whole = require('underscore') as Record<string, (...args: unknown[]) => unknown>;
    const lean = shim('underscore') as typeof whole;
    const options = fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.constant(undefined)));
    fc.assert(
      fc.property(options, options, (given, defaults) => {
        expect(lean.defaults!(lean.clone!(given), defaults)).toEqual(whole.defaults!(whole.clone!(given), defaults));
        expect(lean.clone!(given)).not.toBe(given);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(fc.string()), (servers) => {
        expect([...(lean.shuffle!(servers) as string[])].sort()).toEqual([...servers].sort());
      }),
    );
  });

  it('async: whilst, eachSeries and reduce run their steps in order and stop at the first error, as the whole library', async () => {
    type Callback = (error?: Error | null, value?: unknown) => void;
    const whole = require('async') as Record<string, (...args: unknown[]) => void>;
    const lean = shim('async') as typeof whole;
    const trace = (lib: typeof whole, failAt: number) =>
      new Promise<string[]>((resolve) => {
        const steps: string[] = [];
        let count = 0;
        lib.whilst!(
          (next: Callback) => next(null, count < 3),
          (next: Callback) => {
            steps.push(`while ${count++}`);
            setImmediate(next);
          },
          () =>
            lib.eachSeries!(
              ['a', 'b', 'c', 'd'],
              (item: string, next: Callback) => {
                steps.push(`each ${item}`);
                next(steps.length === failAt ? new Error(`stop ${item}`) : null);
              },
              (error?: Error) => {
                steps.push(`each done ${error?.message ?? 'ok'}`);
                lib.reduce!(
                  [1, 2, 3],
                  10,
                  (memo: number, item: number, next: Callback) => setImmediate(() => next(null, memo + item)),
                  (reduceError: Error | null, sum: number) => {
                    steps.push(`reduce ${reduceError?.message ?? sum}`);
                    resolve(steps);
                  },
                );
              },
            ),
        );
      });
    for (const failAt of [0, 5])
      expect(await trace(lean, failAt), `error at step ${failAt}`).toEqual(await trace(whole, failAt));
  });

  it('worker_threads: the main thread says so without loading node:worker_threads; a worker thread is asked as before', async () => {
    const file = join(REPO_ROOT, 'infra', 'bundle-shims', 'worker_threads.cjs');
    const probe = `const shim = require(${JSON.stringify(file)});
      if (process.argv[1] === 'main') {
        const loaded = process.moduleLoadList.includes('NativeModule worker_threads');
        console.log(JSON.stringify({ isMainThread: shim.isMainThread, loaded }));
      } else {
        const { Worker } = require('node:worker_threads');
        new Worker(\`console.log(JSON.stringify({ isMainThread: require(${JSON.stringify(file)}).isMainThread }))\`, { eval: true });
      }`;
    const inMain = await run(process.execPath, ['-e', probe, 'main']);
    const inWorker = await run(process.execPath, ['-e', probe, 'worker']);

    expect(JSON.parse(inMain.stdout)).toEqual({ isMainThread: true, loaded: false });
    expect(JSON.parse(inWorker.stdout)).toEqual({ isMainThread: false });
  });

  it('thread-stream is not in the bundles: starting a pino transport fails and says why', () => {
    const ThreadStream = shim('thread-stream') as new () => unknown;

    expect(() => new ThreadStream()).toThrow(/transports are not bundled/);
  });
});
