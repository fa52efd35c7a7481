/**
 * The Lambda bundles, built with serverless.yml's esbuild options (as `sls package` builds them):
 * only reconcile carries the Kubernetes adapter, the AWS SDK (EKS authentication), yaml (pod
 * templates) and kafkajs (it forwards the alerts the others keep in the store); every bundle loads in a fresh node and exports `handler`. What a bundle contains is
 * read from esbuild's metafile: the inputs that contributed bytes to the output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, buildFunctionBundles, coldRequire, functionBuild } from '../../bench/bundles.js';

const LEAN = ['api', 'notify', 'heartbeat'] as const;
const RECONCILE_ONLY = [
  /^node_modules\/@aws-sdk\//,
  /^node_modules\/@smithy\//,
  /^node_modules\/yaml\//,
  /^node_modules\/kafkajs\//,
  /^lib\/instances\/(kubernetes|eks)[^/]*\.ts$/,
];

const deployed = functionBuild();
// An external map carries no sourceMappingURL, so the bundle's bytes are the same without it: skip writing it.
const spec =
  deployed.options.sourcemap === 'external'
    ? { ...deployed, options: { ...deployed.options, sourcemap: false } }
    : deployed;
let dir: string;
const bundles = new Map<string, BuiltBundle>();

/** The inputs that contributed bytes to the bundle (tree-shaken modules are not in it). */
function bundled(bundle: BuiltBundle): string[] {
  return Object.entries(bundle.output.inputs)
    .filter(([, { bytesInOutput }]) => bytesInOutput > 0)
    .map(([input]) => input);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bundles-test-'));
  for (const bundle of await buildFunctionBundles(dir, spec)) bundles.set(bundle.name, bundle);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Lambda bundles', () => {
  it('builds the five functions of serverless.yml', () => {
    expect([...bundles.keys()].sort()).toEqual(['api', 'catalog', 'heartbeat', 'notify', 'reconcile']);
  });

  it.each(LEAN)('%s carries no AWS SDK, no yaml, no Kafka client and no Kubernetes adapter', (name) => {
    const inputs = bundled(bundles.get(name)!);

    expect(inputs.filter((input) => RECONCILE_ONLY.some((pattern) => pattern.test(input)))).toEqual([]);
  });

  it.each([...LEAN, 'reconcile'])('%s carries no PostgreSQL client (only catalog talks to the catalog)', (name) => {
    expect(bundled(bundles.get(name)!).filter((input) => /^node_modules\/pg[^/]*\//.test(input))).toEqual([]);
  });

  it('reconcile carries them (so the check above has something to find)', () => {
    const inputs = bundled(bundles.get('reconcile')!);

    for (const pattern of RECONCILE_ONLY)
      expect(
        inputs.some((input) => pattern.test(input)),
        String(pattern),
      ).toBe(true);
  });

  it('every bundle loads in a fresh node and exports handler', async () => {
    // coldRequire fails unless `require(bundle).handler` is a function.
    const loads = await Promise.all([...bundles.values()].map((bundle) => coldRequire(bundle.file)));

    expect(loads).toHaveLength(5);
  });
});
