// The three functions of underscore that node-zookeeper-client calls, from underscore's own per-function
// modules (the same code): its whole UMD build cost every cold start about 9 ms (README "Bundles").
module.exports = {
  clone: require('underscore/cjs/clone.js'),
  defaults: require('underscore/cjs/defaults.js'),
  shuffle: require('underscore/cjs/shuffle.js'),
};
