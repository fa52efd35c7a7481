/**
 * The Lambda bundles, built with serverless.yml's esbuild options (as `sls package` builds them):
 * each carries the clients of its own function only (reconcile the Kubernetes adapter and its EKS
 * authentication, alerts the Kafka client, catalog the PostgreSQL client), none carries a YAML
 * parser (reconcile's pod templates are compiled in) or the AWS SDK, and every bundle loads in a
 * fresh node and exports `handler`. What a bundle contains is read from esbuild's metafile: the
 * inputs that contributed bytes to the output.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, buildFunctionBundles, coldRequire, functionBuild } from '../../bench/bundles.js';
import { defaultTemplatesDir } from '../../lib/instances/pod-template.js';
import { compilePodTemplates } from '../../lib/instances/pod-template-compile.js';

const FUNCTIONS = ['alerts', 'api', 'catalog', 'heartbeat', 'notify', 'reconcile'];
/** The client each function alone may carry. */
const OWN_CLIENTS: Record<string, RegExp> = {
  reconcile: /^lib\/instances\/(kubernetes|eks)[^/]*\.ts$/,
  alerts: /^node_modules\/kafkajs\//,
  catalog: /^node_modules\/pg[^/]*\//,
};
/**
 * What no bundle carries. The console's OIDC client is a static file beside the api bundle
 * (lib/dashboard/assets.ts), and only npm start verifies JWTs (jose): deployed, API Gateway does.
 */
const NOWHERE = [
  /^node_modules\/yaml\//,
  /^node_modules\/@(aws-sdk|smithy|aws-crypto)\//,
  /^node_modules\/(oidc-client-ts|jose)\//,
  // The whole builds the bundle shims replace (infra/bundle-shims/), and pino's transports.
  /^node_modules\/async\/dist\//,
  /^node_modules\/underscore\/underscore/,
  /^node_modules\/thread-stream\//,
];
/** The functions with a cold-start target (bench/bundles.ts TARGETS). */
const LEAN = ['api', 'heartbeat', 'notify', 'reconcile'];

const run = promisify(execFile);
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
  it('builds the six functions of serverless.yml', () => {
    expect([...bundles.keys()].sort()).toEqual(FUNCTIONS);
  });

  it.each(Object.entries(OWN_CLIENTS))('only %s carries its client (and it does)', (owner, client) => {
    const carriers = FUNCTIONS.filter((name) => bundled(bundles.get(name)!).some((input) => client.test(input)));

    expect(carriers).toEqual([owner]);
  });

  it.each(FUNCTIONS)(
    '%s carries no YAML parser, no AWS SDK, no OIDC client, no JWT library and no shimmed build',
    (name) => {
      const inputs = bundled(bundles.get(name)!);

      expect(inputs.filter((input) => NOWHERE.some((pattern) => pattern.test(input)))).toEqual([]);
    },
  );

  it.each(LEAN)(
    '%s loads neither node:assert, node:crypto nor node:worker_threads at its cold require (shims and lazy crypto)',
    async (name) => {
      const code = `const before = new Set(process.moduleLoadList);
        require(${JSON.stringify(bundles.get(name)!.file)});
        console.log(JSON.stringify(process.moduleLoadList.filter((entry) => !before.has(entry))));`;
      const file = join(dir, `loaded-by-${name}.cjs`);
      writeFileSync(file, code);
      const { stdout } = await run(process.execPath, [file]);
      const loaded = JSON.parse(stdout) as string[];

      expect(loaded.length).toBeGreaterThan(0);
      expect(loaded.filter((entry) => /^NativeModule (assert|crypto|worker_threads)$/.test(entry))).toEqual([]);
    },
  );

  it('reconcile carries every pod template of infra/templates, compiled', () => {
    const code = readFileSync(bundles.get('reconcile')!.file, 'utf8');
    const templates = Object.entries(compilePodTemplates(defaultTemplatesDir())) as Array<
      [string, { spec: { containers: Array<{ image: string }> } }]
    >;

    expect(templates.length).toBeGreaterThan(0);
    for (const [name, template] of templates)
      expect(code.includes(JSON.stringify(template.spec.containers[0]!.image)), name).toBe(true);
  });

  it('every bundle loads in a fresh node and exports handler', async () => {
    // coldRequire fails unless `require(bundle).handler` is a function.
    const loads = await Promise.all([...bundles.values()].map((bundle) => coldRequire(bundle.file)));

    expect(loads).toHaveLength(FUNCTIONS.length);
  });
});
