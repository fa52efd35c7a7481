/**
 * The pod templates compiled at build time: an esbuild plugin that replaces
 * ./compiled-pod-templates.ts with every `infra/templates/<instanceName>/pod-template.yml`,
 * parsed and validated, as JSON. So the reconcile bundle reads its templates with no
 * YAML parser (about 120 KB of it) and no file, and a template that is not valid YAML
 * or not a valid pod fails the build, naming the file and the field.
 *
 * serverless.yml loads it through `custom.esbuild.plugins` (infra/esbuild-plugins.cjs);
 * bench/bundles.ts and test/unit/bundles.test.ts build with the same file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'esbuild';
import { parse } from 'yaml';
import { POD_TEMPLATE_FILE, PodTemplateError, validatePodTemplate } from './pod-template.js';

/** Every template of `templatesDir`, as its YAML parsed (not the validated copy: key order and all stay as written). */
export function compilePodTemplates(templatesDir: string): Record<string, unknown> {
  const documents: Record<string, unknown> = {};
  for (const name of readdirSync(templatesDir).sort()) {
    const file = join(templatesDir, name, POD_TEMPLATE_FILE);
    if (!existsSync(file)) continue;
    let document: unknown;
    try {
      document = parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new PodTemplateError(file, '(root)', `not valid YAML: ${(error as Error).message}`);
    }
    validatePodTemplate(document, file);
    documents[name] = document;
  }
  return documents;
}

/** The plugin: `templatesDir` is the repository's infra/templates. */
export function podTemplatesPlugin(templatesDir: string): Plugin {
  return {
    name: 'pod-templates',
    setup(build) {
      build.onLoad({ filter: /[\\/]lib[\\/]instances[\\/]compiled-pod-templates\.ts$/ }, () => {
        const documents = compilePodTemplates(templatesDir);
        return {
          contents: `export const COMPILED_POD_TEMPLATES = ${JSON.stringify(documents)};`,
          loader: 'js',
          watchFiles: Object.keys(documents).map((name) => join(templatesDir, name, POD_TEMPLATE_FILE)),
        };
      });
    },
  };
}
