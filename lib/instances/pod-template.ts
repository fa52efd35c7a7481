/**
 * Per-kind pod templates (SPEC §2 "Pods"): `<templatesDir>/<instanceName>/pod-template.yml`.
 * The orchestrator owns the pod's name, namespace, the labels app/resource/instanceId and
 * the value of the first env var of the first container; the rest of the template is
 * passed through untouched.
 *
 * A Lambda bundle carries its templates compiled to JSON at build time
 * (./pod-template-compile.ts), so it needs no YAML parser: `yaml` is imported only
 * where a template is read from a directory, which runs from the sources do.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from '../zod.js';
import type { KindConfig } from '../config/kinds.js';
import { COMPILED_POD_TEMPLATES } from './compiled-pod-templates.js';
import type { PodSpec } from './port.js';

export const DEFAULT_NAMESPACE = 'iota';
export const POD_TEMPLATE_FILE = 'pod-template.yml';
/** Relative to the package root; serverless.yml must package `infra/templates/**`. */
export const TEMPLATES_SUBDIR = join('infra', 'templates');

const EnvVarSchema = z.looseObject({
  name: z.string().check(z.minLength(1)),
  value: z.optional(z.string()),
});

const ContainerSchema = z.looseObject({
  name: z.string().check(z.minLength(1)),
  image: z.string().check(z.minLength(1)),
  env: z.optional(z.array(EnvVarSchema)),
});

export const PodTemplateSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: z.optional(
    z.looseObject({
      name: z.optional(z.string()),
      namespace: z.optional(z.string()),
      labels: z.optional(z.record(z.string(), z.string())),
    }),
  ),
  spec: z.looseObject({
    terminationGracePeriodSeconds: z.optional(z.int().check(z.minimum(0))),
    containers: z.array(ContainerSchema).check(
      z.minLength(1),
      z.refine((containers) => (containers[0]?.env?.length ?? 0) > 0, {
        message: 'the first container needs at least one env var: the first one carries the instance id',
        path: [0, 'env'],
      }),
      z.refine((containers) => containers[0]?.env?.[0]?.valueFrom === undefined, {
        message: 'the first env var of the first container carries the instance id and must not use valueFrom',
        path: [0, 'env', 0, 'valueFrom'],
      }),
    ),
  }),
});
export type PodTemplate = z.infer<typeof PodTemplateSchema>;

/** A rendered pod, ready to POST. */
export type PodManifest = PodTemplate & {
  metadata: NonNullable<PodTemplate['metadata']> & { name: string; namespace: string; labels: Record<string, string> };
};

export class PodTemplateError extends Error {
  override readonly name = 'PodTemplateError';
  constructor(
    readonly source: string,
    /** Dotted path of the offending field, e.g. `spec.containers[0].env`; '(root)' for the document. */
    readonly field: string,
    detail: string,
  ) {
    super(`pod template ${source}: ${field}: ${detail}`);
  }
}

const fieldPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  ) || '(root)';

/** Validates a template document (YAML or JSON, parsed); `source` names the template in errors. */
export function validatePodTemplate(document: unknown, source: string): PodTemplate {
  const result = PodTemplateSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new PodTemplateError(source, fieldPath(issue?.path ?? []), issue?.message ?? 'invalid');
  }
  return result.data;
}

/** Parses and validates template YAML; `source` names the template in errors. */
export async function parsePodTemplate(text: string, source: string): Promise<PodTemplate> {
  let parseYaml: (text: string) => unknown;
  try {
    ({ parse: parseYaml } = await import('yaml'));
  } catch (error) {
    throw new PodTemplateError(
      source,
      '(root)',
      `cannot be read here: a bundle has no YAML parser and reads the templates compiled into it, so leave ORCH_TEMPLATES_DIR unset (${(error as Error).message})`,
    );
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new PodTemplateError(source, '(root)', `not valid YAML: ${(error as Error).message}`);
  }
  return validatePodTemplate(document, source);
}

/**
 * The pod for one incarnation of an instance. Pure: the template is deep-copied, so one
 * cached template can render any number of pods (the legacy code mutated a shared object).
 */
export function renderPod(template: PodTemplate, spec: PodSpec, namespace: string = DEFAULT_NAMESPACE): PodManifest {
  const pod = structuredClone(template);
  const metadata = pod.metadata ?? {};
  const labels: Record<string, string> = {
    ...metadata.labels,
    app: spec.kind.instanceName,
    resource: spec.kind.resource,
    instanceId: spec.instanceId,
  };
  const manifest: PodManifest = { ...pod, metadata: { ...metadata, name: spec.name, namespace, labels } };
  // Validated non-empty by PodTemplateSchema.
  const firstEnv = manifest.spec.containers[0]!.env![0]!;
  firstEnv.value = spec.instanceId;
  return manifest;
}

/**
 * The repository's templates directory: the nearest `infra/templates` above this module (or
 * the working directory), for runs from the sources; a bundle reads its compiled templates.
 */
export function defaultTemplatesDir(): string {
  const starts: string[] = [];
  if (typeof import.meta.url === 'string' && import.meta.url.startsWith('file:')) {
    starts.push(dirname(fileURLToPath(import.meta.url)));
  }
  starts.push(process.cwd());
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, TEMPLATES_SUBDIR);
      if (existsSync(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error(`no ${TEMPLATES_SUBDIR} directory found above ${starts.join(', ')}; set ORCH_TEMPLATES_DIR`);
}

/** `ORCH_TEMPLATES_DIR` when set, else the repository's `infra/templates`. */
export const templatesDirFromEnv = (env: NodeJS.ProcessEnv = process.env): string =>
  env.ORCH_TEMPLATES_DIR ? resolve(env.ORCH_TEMPLATES_DIR) : defaultTemplatesDir();

export const podTemplatePath = (dir: string, kind: KindConfig): string =>
  join(dir, kind.instanceName, POD_TEMPLATE_FILE);

export async function loadPodTemplate(kind: KindConfig, dir: string): Promise<PodTemplate> {
  const path = podTemplatePath(dir, kind);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PodTemplateError(path, '(root)', `cannot be read: ${(error as Error).message}`);
  }
  return parsePodTemplate(text, path);
}

export type PodTemplateSource = (kind: KindConfig) => Promise<PodTemplate>;

/** Loads each kind's template once; a failed load is not cached, so a fixed file is picked up. */
export function podTemplateLoader(dir: string): PodTemplateSource {
  const cache = new Map<string, Promise<PodTemplate>>();
  return (kind) => {
    let pending = cache.get(kind.instanceName);
    if (!pending) {
      pending = loadPodTemplate(kind, dir);
      cache.set(kind.instanceName, pending);
      pending.catch(() => cache.delete(kind.instanceName));
    }
    return pending;
  };
}

/** The templates compiled into a bundle (`COMPILED_POD_TEMPLATES`), each validated on first use like a file. */
export function compiledPodTemplates(documents: Readonly<Record<string, unknown>>): PodTemplateSource {
  const validated = new Map<string, PodTemplate>();
  return async (kind) => {
    const source = `${join(TEMPLATES_SUBDIR, kind.instanceName, POD_TEMPLATE_FILE)} (compiled into the bundle)`;
    let template = validated.get(kind.instanceName);
    if (!template) {
      if (!Object.hasOwn(documents, kind.instanceName))
        throw new PodTemplateError(source, '(root)', 'no such template was compiled into the bundle');
      template = validatePodTemplate(documents[kind.instanceName], source);
      validated.set(kind.instanceName, template);
    }
    return template;
  };
}

/**
 * Where the runtime reads templates: `ORCH_TEMPLATES_DIR` when set; else the templates compiled
 * into the bundle; else (from the sources) the repository's `infra/templates`.
 */
export function podTemplatesFromEnv(env: NodeJS.ProcessEnv = process.env): PodTemplateSource {
  if (!env.ORCH_TEMPLATES_DIR && COMPILED_POD_TEMPLATES) return compiledPodTemplates(COMPILED_POD_TEMPLATES);
  return podTemplateLoader(templatesDirFromEnv(env));
}
