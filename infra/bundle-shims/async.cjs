// The three functions of async that node-zookeeper-client calls, from async's own per-function modules
// (the same code): its whole dist build cost every cold start about 6 ms (README "Bundles").
module.exports = {
  eachSeries: require('async/eachSeries.js'),
  reduce: require('async/reduce.js'),
  whilst: require('async/whilst.js'),
};
