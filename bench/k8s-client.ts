/**
 * The Kubernetes client choice, measured: our own small client versus @kubernetes/client-node 1.4,
 * each bundled the way the Lambda functions are (esbuild, node20, ESM, minified, every dependency
 * bundled but better-sqlite3). Prints each bundle's size, its cold import time (a fresh `node`
 * per run, median of RUNS) and its cold "import + first list" time against the API simulator,
 * after checking that both bundles list the same pods.
 *
 *   npx tsx bench/k8s-client.ts      (or: npm run bench -- k8s-client)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { DEFAULT_KINDS, type KindConfig } from '../lib/config/kinds.js';
import { KubernetesRuntime } from '../lib/instances/kubernetes.js';
import { defaultTemplatesDir, podTemplateLoader } from '../lib/instances/pod-template.js';
import { podName } from '../lib/instances/port.js';
import { K8sSimulator } from '../test/support/k8s-simulator.js';

const RUNS = 10;
const PODS = 40;
const [THING] = DEFAULT_KINDS as [KindConfig, KindConfig];
const ENTRIES = {
  'own client (node:https)': resolve('bench/k8s-client/own-client.ts'),
  '@kubernetes/client-node 1.4': resolve('bench/k8s-client/client-node.ts'),
} as const;
type Variant = keyof typeof ENTRIES;

const run = promisify(execFile);
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Bundles `entry`; returns the output bytes contributed by each package (`(own code)` for ours). */
async function bundle(entry: string, outfile: string): Promise<Map<string, number>> {
  const result = await build({
    metafile: true,
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['better-sqlite3'],
    // As in serverless.yml: bundled CommonJS dependencies call require().
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = match ? match[1]! : '(own code)';
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return byPackage;
}

/** `@aws-sdk/*` and `@smithy/*` grouped: they come together, with the EKS authentication. */
function summarize(byPackage: Map<string, number>, top: number): string {
  const grouped = new Map<string, number>();
  for (const [name, bytes] of byPackage) {
    const group = /^@(aws-sdk|smithy|aws-crypto|aws)\//.test(name) ? 'AWS SDK (@aws-sdk, @smithy, @aws-crypto)' : name;
    grouped.set(group, (grouped.get(group) ?? 0) + bytes);
  }
  return [...grouped]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(0)} KiB`)
    .join(', ');
}

/** Runs `code` as a fresh ES module in a new node process; returns its stdout. */
async function freshNode(code: string): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { maxBuffer: 1 << 20 });
    return stdout.trim();
  } catch (error) {
    // The minified bundle is echoed in stack traces: keep the end, where the message is.
    throw new Error(`bundle run failed: ${String((error as { stderr?: string }).stderr ?? error).slice(-800)}`);
  }
}

export async function benchK8sClient(log: (line: string) => void = console.log): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-client-bench-'));
  const sim = await K8sSimulator.start();
  try {
    const seeder = new KubernetesRuntime({
      connection: async () => ({ server: sim.url, caPem: undefined, token: sim.token }),
      templates: podTemplateLoader(defaultTemplatesDir()),
      allowInsecureHttp: true,
    });
    for (let id = 0; id < PODS; id++)
      await seeder.create({ kind: THING, instanceId: String(id), name: podName(THING, String(id), 1) });
    await seeder.close();

    const target = { server: sim.url, token: sim.token, templatesDir: defaultTemplatesDir() };
    const bundles = {} as Record<Variant, string>;
    const contents = {} as Record<Variant, Map<string, number>>;
    for (const [variant, entry] of Object.entries(ENTRIES) as Array<[Variant, string]>) {
      bundles[variant] = join(dir, `${variant.replace(/\W+/g, '-')}.mjs`);
      contents[variant] = await bundle(entry, bundles[variant]);
    }

    const listCode = (file: string): string => `
      const started = performance.now();
      const { listPods } = await import(${JSON.stringify(pathToFileURL(file).href)});
      const imported = performance.now();
      const names = await listPods(${JSON.stringify(target)}, ${JSON.stringify(THING)});
      const listed = performance.now();
      console.log(JSON.stringify({ importMs: imported - started, firstListMs: listed - started, pods: names.length }));`;
    const importCode = (file: string): string => `
      const started = performance.now();
      await import(${JSON.stringify(pathToFileURL(file).href)});
      console.log(performance.now() - started);`;

    // Both bundles must work before their numbers mean anything.
    for (const variant of Object.keys(bundles) as Variant[]) {
      const { pods } = JSON.parse(await freshNode(listCode(bundles[variant]))) as { pods: number };
      if (pods !== PODS) throw new Error(`${variant}: listed ${pods} pods, expected ${PODS}`);
    }

    const importMs: Record<Variant, number[]> = { 'own client (node:https)': [], '@kubernetes/client-node 1.4': [] };
    const firstListMs: Record<Variant, number[]> = { 'own client (node:https)': [], '@kubernetes/client-node 1.4': [] };
    sim.resetCalls();
    // Interleaved, so drift in machine load touches both alike.
    for (let i = 0; i < RUNS; i++) {
      for (const variant of Object.keys(bundles) as Variant[]) {
        importMs[variant].push(Number(await freshNode(importCode(bundles[variant]))));
        firstListMs[variant].push(
          (JSON.parse(await freshNode(listCode(bundles[variant]))) as { firstListMs: number }).firstListMs,
        );
      }
    }

    log(
      `Kubernetes client bundles (esbuild, node20, esm, minified; ${RUNS} fresh node processes each; ${PODS} pods listed)`,
    );
    log('| client | bundle bytes | gzip bytes | cold import, median ms | cold import + first list, median ms |');
    log('|---|---:|---:|---:|---:|');
    for (const variant of Object.keys(bundles) as Variant[]) {
      const bytes = statSync(bundles[variant]).size;
      const gzip = gzipSync(readFileSync(bundles[variant])).length;
      log(
        `| ${variant} | ${bytes.toLocaleString('en')} | ${gzip.toLocaleString('en')} | ` +
          `${median(importMs[variant]).toFixed(1)} | ${median(firstListMs[variant]).toFixed(1)} |`,
      );
    }
    for (const variant of Object.keys(bundles) as Variant[])
      log(`largest parts, ${variant}: ${summarize(contents[variant], 6)}`);
    const lists = sim.calls['list pods'] ?? 0;
    log(
      `API calls per listing of one kind: ${lists / (RUNS * Object.keys(bundles).length)} (list pods calls: ${lists})`,
    );
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await benchK8sClient();
