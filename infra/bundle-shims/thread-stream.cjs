// pino's transports (log records sent to a worker thread): the functions log JSON lines to stdout and
// never start one, so the bundles leave thread-stream and its worker_threads out (README "Bundles").
module.exports = class ThreadStream {
  constructor() {
    throw new Error('pino transports are not bundled in the Lambda functions: they log to stdout');
  }
};
