/**
 * The Lambda bundles, measured: each function of serverless.yml is built with esbuild using the
 * options `sls package` uses (read from serverless.yml's `custom.esbuild`, mapped the way the
 * serverless-esbuild plugin maps them), then for each: the `.cjs` size against its target, its
 * source map, the biggest contributors, and a cold `require` against its target: the time the
 * `require` of the bundle takes inside a fresh `node` (one per run, with the function's
 * NODE_OPTIONS from serverless.yml, median of RUNS), which is what the bundle costs a cold start;
 * node's own start-up before it is printed beside it, not counted.
 *
 *   npx tsx bench/bundles.ts      (or: npm run bench -- bundles)
 *
 * test/unit/bundles.test.ts builds with the same `buildFunctionBundles`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { parse } from 'yaml';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 10;
const KB = 1024;

/** The targets: `.cjs` bytes and cold `require` milliseconds (median), per function. */
export const TARGETS: Record<string, { bytes: number; requireMs: number }> = {
  api: { bytes: 400 * KB, requireMs: 60 },
  notify: { bytes: 400 * KB, requireMs: 60 },
  heartbeat: { bytes: 400 * KB, requireMs: 60 },
  reconcile: { bytes: 1024 * KB, requireMs: 60 },
};

// serverless-esbuild's own settings: removed before the rest goes to esbuild (its bundle.ts).
const PLUGIN_ONLY = new Set([
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
]);

interface ServerlessFunction {
  handler: string;
  environment?: Record<string, unknown>;
}
interface ServerlessConfig {
  provider: { runtime: string; environment?: Record<string, unknown> };
  custom?: { esbuild?: Record<string, unknown> };
  functions: Record<string, ServerlessFunction>;
}

export function readServerlessConfig(root = REPO_ROOT): ServerlessConfig {
  // CloudFormation tags (!Split, !Sub, …) elsewhere in the file are unresolved here: only build settings are read.
  return parse(readFileSync(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as ServerlessConfig;
}

export interface FunctionBuild {
  /** The esbuild options, as serverless-esbuild passes them (without entryPoints/outdir). */
  readonly options: BuildOptions;
  /** Output extension (`outputFileExtension`). */
  readonly extension: string;
  /** Function name → entry file, relative to the repository. */
  readonly entries: Record<string, string>;
}

/**
 * serverless.yml's esbuild settings as the plugin resolves them: `custom.esbuild` over its defaults
 * (bundle, node platform, the target of `provider.runtime`, `exclude: [aws-sdk]`); plugin-only keys
 * dropped; `exclude` appended to `external`; `outputFileExtension` as `outExtension`; `plugins`, a
 * file of the repository, required. Entries are found as the plugin finds them: the handler's
 * module path with the first extension that exists.
 */
export function functionBuild(config = readServerlessConfig()): FunctionBuild {
  const custom = config.custom?.esbuild ?? {};
  if ('config' in custom) throw new Error('custom.esbuild.config (a JS config file) is not read by this bench');
  if (JSON.stringify(custom).includes('${'))
    throw new Error('custom.esbuild uses a Serverless variable: the bench cannot resolve it');
  const runtime = /^nodejs(\d+)\.x$/.exec(config.provider.runtime);
  const merged: Record<string, unknown> = {
    bundle: true,
    platform: 'node',
    ...(runtime ? { target: `node${runtime[1]}` } : {}),
    external: [],
    exclude: ['aws-sdk'],
    outputFileExtension: '.js',
    ...custom,
  };
  const options = Object.fromEntries(Object.entries(merged).filter(([key]) => !PLUGIN_ONLY.has(key))) as BuildOptions;
  const exclude = ([] as string[]).concat((merged.exclude as string | string[] | undefined) ?? []);
  options.external = [...((merged.external as string[] | undefined) ?? []), ...(exclude.includes('*') ? [] : exclude)];
  if (typeof merged.plugins === 'string') {
    // As serverless-esbuild loads it: require(<service dir>/<plugins>), an array of esbuild plugins.
    const plugins: unknown = createRequire(import.meta.url)(join(REPO_ROOT, merged.plugins));
    if (!Array.isArray(plugins)) throw new Error(`custom.esbuild.plugins (${merged.plugins}) must export an array`);
    options.plugins = plugins;
  }
  const extension = merged.outputFileExtension as string;
  if (extension !== '.js') options.outExtension = { '.js': extension };
  const entries: Record<string, string> = {};
  for (const [name, fn] of Object.entries(config.functions)) {
    const base = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
    const entry = ['.ts', '.js', '.mts', '.mjs', '.cts', '.cjs']
      .map((ext) => base + ext)
      .find((file) => existsSync(join(REPO_ROOT, file)));
    if (!entry) throw new Error(`no entry file for ${name} (${fn.handler})`);
    entries[name] = entry;
  }
  return { options, extension, entries };
}

export interface BuiltBundle {
  readonly name: string;
  /** The bundle file. */
  readonly file: string;
  readonly bytes: number;
  /** The source map next to it, if the options write one. */
  readonly mapBytes: number | undefined;
  /** esbuild's metafile entry of the bundle: its inputs, with the bytes each contributed. */
  readonly output: Metafile['outputs'][string];
}

/**
 * Builds the functions' bundles into `outdir`, laid out as the plugin's build folder. One esbuild
 * call with one entry point per function (no code splitting): the same bytes as one build per
 * function, as the plugin does, in a fraction of the time.
 */
export async function buildFunctionBundles(
  outdir: string,
  spec: FunctionBuild = functionBuild(),
  names: readonly string[] = Object.keys(spec.entries),
): Promise<BuiltBundle[]> {
  const entries = names.map((name) => {
    const entry = spec.entries[name];
    if (!entry) throw new Error(`no function ${name} in serverless.yml`);
    return entry;
  });
  const result = await build({
    ...spec.options,
    entryPoints: entries.map((entry) => join(REPO_ROOT, entry)),
    outbase: REPO_ROOT,
    outdir,
    absWorkingDir: REPO_ROOT,
    metafile: true,
    logLevel: 'error',
  });
  const outputs = Object.values(result.metafile.outputs);
  return names.map((name, index) => {
    const entry = entries[index]!;
    const output = outputs.find((candidate) => candidate.entryPoint === entry);
    if (!output) throw new Error(`esbuild wrote no bundle for ${entry}`);
    const file = join(outdir, entry.slice(0, entry.lastIndexOf('.')) + spec.extension);
    const map = `${file}.map`;
    return {
      name,
      file,
      bytes: statSync(file).size,
      mapBytes: existsSync(map) ? statSync(map).size : undefined,
      output,
    };
  });
}

/** Output bytes per package (`(own code)` for the repository's own modules), largest first. */
export function contributors(output: Metafile['outputs'][string]): Array<[string, number]> {
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const name = match ? match[1]! : '(own code)';
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  return [...byPackage].sort((a, b) => b[1] - a[1]);
}

/** The NODE_OPTIONS a function runs with: its own environment's, else the provider's. */
export function nodeOptionsOf(name: string, config = readServerlessConfig()): string | undefined {
  const value = config.functions[name]?.environment?.NODE_OPTIONS ?? config.provider.environment?.NODE_OPTIONS;
  return typeof value === 'string' ? value : undefined;
}

const run = promisify(execFile);
const COLD_REQUIRE = join(REPO_ROOT, 'bench', 'support', 'cold-require.cjs');

export interface ColdRequire {
  /** Wall time of the `require` alone. */
  readonly wallMs: number;
  /** CPU time (user + system) the process spent in it. */
  readonly cpuMs: number;
  /** Node's own start-up: from the process's time origin to the line before the `require`. */
  readonly nodeStartMs: number;
}

/**
 * `require`s `file` in a fresh node process (as the Lambda runtime loads a `.cjs` handler, from a
 * module: bench/support/cold-require.cjs) and times that `require` from inside the process, in ms;
 * fails unless the module exports a `handler` function.
 */
export async function coldRequire(file: string, nodeOptions?: string): Promise<ColdRequire> {
  const env = { ...process.env, NODE_OPTIONS: nodeOptions ?? '' };
  try {
    const { stdout } = await run(process.execPath, [COLD_REQUIRE, file], { env, cwd: dirname(file) });
    return JSON.parse(stdout) as ColdRequire;
  } catch (error) {
    // A minified bundle is echoed in stack traces: keep the end, where the message is.
    throw new Error(`require ${file} failed: ${String((error as { stderr?: string }).stderr ?? error).slice(-800)}`);
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const kib = (bytes: number): string => `${(bytes / KB).toFixed(0)} KiB`;

export async function benchBundles(log: (line: string) => void = console.log): Promise<void> {
  const config = readServerlessConfig();
  const spec = functionBuild(config);
  const dir = mkdtempSync(join(tmpdir(), 'bundles-bench-'));
  try {
    log(
      `esbuild options from serverless.yml: ${JSON.stringify({ ...spec.options, define: undefined, banner: undefined, plugins: spec.options.plugins?.map((plugin) => plugin.name) })}`,
    );
    log(
      `cold require: the require() of the bundle timed inside a fresh node ${process.version} (node's own start-up ` +
        `before it not counted, shown as "node start"), median of ${RUNS} processes, each with the function's NODE_OPTIONS`,
    );
    log(
      `(load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores: times inflate on a busy machine)`,
    );
    const rows: string[][] = [
      [
        'function',
        '.cjs',
        'vs target',
        'map (artefact)',
        'require ms',
        'vs target',
        'cpu ms',
        'node start ms',
        '÷ node start',
        'largest parts',
      ],
    ];
    for (const bundle of await buildFunctionBundles(dir, spec)) {
      const { name } = bundle;
      const nodeOptions = nodeOptionsOf(name, config);
      await coldRequire(bundle.file, nodeOptions); // warms the file cache; not counted
      const times: ColdRequire[] = [];
      for (let i = 0; i < RUNS; i++) times.push(await coldRequire(bundle.file, nodeOptions));
      const ms = median(times.map((time) => time.wallMs));
      const target = TARGETS[name];
      rows.push([
        name,
        kib(bundle.bytes),
        target ? `${(bundle.bytes / target.bytes).toFixed(2)} of ${kib(target.bytes)}` : '-',
        bundle.mapBytes === undefined ? 'none' : kib(bundle.mapBytes),
        ms.toFixed(1),
        target ? `${(ms / target.requireMs).toFixed(2)} of ${target.requireMs} ms` : '-',
        median(times.map((time) => time.cpuMs)).toFixed(1),
        median(times.map((time) => time.nodeStartMs)).toFixed(1),
        // The machine's own speed, cancelled: comparable across machines and loads, where the ms are not.
        median(times.map((time) => time.wallMs / time.nodeStartMs)).toFixed(2),
        contributors(bundle.output)
          .slice(0, 4)
          .map(([pkg, bytes]) => `${pkg} ${kib(bytes)}`)
          .join(', '),
      ]);
    }
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows)
      log(
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd(),
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchBundles();
