// pino asks node:worker_threads only whether it runs in the main thread (to flush an asynchronous
// destination at exit), and loading that module cost every cold start about 4 ms (README "Bundles").
// A worker thread has loaded it before any of its own code runs, so there it is asked as before; in a
// process that never loaded it, this is the main thread.
module.exports = process.moduleLoadList?.includes('NativeModule worker_threads')
  ? require('node:worker_threads')
  : { isMainThread: true };
