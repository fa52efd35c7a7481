/**
 * The console's static files, served at `/console/assets/{name}`: the
 * browser build of oidc-client-ts and the console's own script. They are
 * files, not strings in the code, so the api bundle stays small (the OIDC
 * client alone is 70 KB): serverless.yml puts them in the api zip beside
 * the bundle (the function's `package.patterns`), and they are found by
 * walking up from this module, as Node finds node_modules: from
 * `functions/api.cjs` in the zip, from lib/dashboard/ in the sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeCrypto } from '../lazy-crypto.js';

const JAVASCRIPT = 'text/javascript; charset=utf-8';

/** Each asset by the name it is served under: the file (from the repository or zip root) and its type. */
export const CONSOLE_ASSETS: Readonly<Record<string, { readonly file: string; readonly contentType: string }>> = {
  'oidc-client-ts.min.js': {
    file: 'node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js',
    contentType: JAVASCRIPT,
  },
  'console.js': { file: 'lib/dashboard/static/console.js', contentType: JAVASCRIPT },
  'console.css': { file: 'lib/dashboard/static/console.css', contentType: 'text/css; charset=utf-8' },
};

export interface Asset {
  readonly body: string;
  readonly contentType: string;
  /** A strong validator of the body, for `If-None-Match`. */
  readonly etag: string;
}

const loaded = new Map<string, Asset>();

/** The asset served under `name`, read once per process; undefined for a name that is not an asset. */
export function consoleAsset(name: string): Asset | undefined {
  const asset = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : undefined;
  if (!asset) return undefined;
  let found = loaded.get(name);
  if (!found) {
    // Its source map is not served: a browser's developer tools would only ask for it and get a 404.
    const body = readFileSync(locate(asset.file), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    found = {
      body,
      contentType: asset.contentType,
      etag: `"${nodeCrypto().createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    };
    loaded.set(name, found);
  }
  return found;
}

/** `relative` under the nearest ancestor of this module's folder that has it. */
function locate(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`console asset ${relative} is missing: the api package must include it`);
    dir = parent;
  }
}
