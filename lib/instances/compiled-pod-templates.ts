/**
 * The pod templates compiled into a bundle, by instance name. From the sources there are none:
 * the templates are read from infra/templates. When esbuild bundles this module for a Lambda, the
 * plugin of ./pod-template-compile.ts replaces it with every
 * `infra/templates/<instanceName>/pod-template.yml` as JSON.
 */
export const COMPILED_POD_TEMPLATES: Readonly<Record<string, unknown>> | undefined = undefined;
