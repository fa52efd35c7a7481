// The esbuild plugins of the Lambda bundles. serverless-esbuild require()s this file (serverless.yml,
// custom.esbuild.plugins), and so do bench/bundles.ts and its test; the plugins themselves are
// TypeScript in lib/, loaded through tsx (a dependency).
const { join } = require('node:path');
const { require: requireTypeScript } = require('tsx/cjs/api');

const { podTemplatesPlugin } = requireTypeScript('../lib/instances/pod-template-compile.ts', __filename);

module.exports = [podTemplatesPlugin(join(__dirname, 'templates'))];
