// The esbuild plugins of the Lambda bundles. serverless-esbuild require()s this file (serverless.yml,
// custom.esbuild.plugins), and so do bench/bundles.ts and its test; the pod templates plugin is
// TypeScript in lib/, loaded through tsx (a dependency).
const { join } = require('node:path');
const { require: requireTypeScript } = require('tsx/cjs/api');

const { podTemplatesPlugin } = requireTypeScript('../lib/instances/pod-template-compile.ts', __filename);

/**
 * Modules the bundles replace with the part their importers call (infra/bundle-shims/, README "Bundles"):
 * the module, and the packages whose `require` of it is replaced. Any other importer gets the real module.
 * test/unit/bundle-shims.test.ts checks that each importer calls nothing a shim lacks.
 */
const BUNDLE_SHIMS = {
  underscore: ['node-zookeeper-client'],
  async: ['node-zookeeper-client'],
  assert: ['node-zookeeper-client', 'sonic-boom'],
  'thread-stream': ['pino'],
  worker_threads: ['pino'],
};

const packageOf = (file) =>
  /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/](?!.*[\\/]node_modules[\\/])/.exec(file)?.[1];

/** Resolves each shimmed module, required by one of its listed importers, to its file in infra/bundle-shims/. */
const bundleShimsPlugin = {
  name: 'bundle-shims',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${Object.keys(BUNDLE_SHIMS).join('|')})$`);
    build.onResolve({ filter }, ({ path, importer }) => {
      const module = path.replace(/^node:/, '');
      if (!BUNDLE_SHIMS[module].includes(packageOf(importer))) return undefined;
      return { path: join(__dirname, 'bundle-shims', `${module}.cjs`) };
    });
  },
};

module.exports = [podTemplatesPlugin(join(__dirname, 'templates')), bundleShimsPlugin];
module.exports.BUNDLE_SHIMS = BUNDLE_SHIMS;
