/**
 * Per-kind pod templates (SPEC §2 "Pods"): `<templatesDir>/<instanceName>/pod-template.yml`.
 * The orchestrator owns the pod's name, namespace, the labels app/resource/instanceId and
 * the value of the first env var of the first container; the rest of the template is
 * passed through untouched.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import type { KindConfig } from '../config/kinds.js';
import type { PodSpec } from './port.js';

export const DEFAULT_NAMESPACE = 'iota';
export const POD_TEMPLATE_FILE = 'pod-template.yml';
/** Relative to the package root; serverless.yml must package `infra/templates/**`. */
export const TEMPLATES_SUBDIR = join('infra', 'templates');

const EnvVarSchema = z.looseObject({
  name: z.string().min(1),
  value: z.string().optional(),
});

const ContainerSchema = z.looseObject({
  name: z.string().min(1),
  image: z.string().min(1),
  env: z.array(EnvVarSchema).optional(),
});

export const PodTemplateSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: z
    .looseObject({
      name: z.string().optional(),
      namespace: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: z.looseObject({
    terminationGracePeriodSeconds: z.number().int().min(0).optional(),
    containers: z
      .array(ContainerSchema)
      .min(1)
      .refine((containers) => (containers[0]?.env?.length ?? 0) > 0, {
        message: 'the first container needs at least one env var: the first one carries the instance id',
        path: [0, 'env'],
      })
      .refine((containers) => containers[0]?.env?.[0]?.valueFrom === undefined, {
        message: 'the first env var of the first container carries the instance id and must not use valueFrom',
        path: [0, 'env', 0, 'valueFrom'],
      }),
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

/** Parses and validates template YAML; `source` names the template in errors. */
export function parsePodTemplate(text: string, source: string): PodTemplate {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new PodTemplateError(source, '(root)', `not valid YAML: ${(error as Error).message}`);
  }
  const result = PodTemplateSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new PodTemplateError(source, fieldPath(issue?.path ?? []), issue?.message ?? 'invalid');
  }
  return result.data;
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
 * The packaged templates directory: the nearest `infra/templates` above this module.
 * Walking up works both from the sources (`lib/instances/`) and from a Lambda bundle
 * (`/var/task/functions/x.mjs` with `infra/templates/**` packaged next to it).
 */
export function defaultTemplatesDir(): string {
  const starts: string[] = [];
  if (typeof import.meta.url === 'string' && import.meta.url.startsWith('file:')) {
    starts.push(dirname(fileURLToPath(import.meta.url)));
  }
  if (process.env.LAMBDA_TASK_ROOT) starts.push(process.env.LAMBDA_TASK_ROOT);
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
  throw new Error(
    `no ${TEMPLATES_SUBDIR} directory found above ${starts.join(', ')}; set ORCH_TEMPLATES_DIR or package infra/templates/**`,
  );
}

/** `ORCH_TEMPLATES_DIR` when set, else the packaged `infra/templates`. */
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
