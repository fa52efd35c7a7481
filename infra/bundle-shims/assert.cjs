// node:assert as node-zookeeper-client and sonic-boom call it, `assert(value, message)`, and nothing else
// of it: loading node:assert cost every cold start about 4 ms (README "Bundles"). The same error: an
// AssertionError, code ERR_ASSERTION, the message given (or the Error given, thrown as it is).
class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionError';
    this.code = 'ERR_ASSERTION';
    this.generatedMessage = false;
  }
}

function assert(value, message) {
  if (value) return;
  if (message instanceof Error) throw message;
  throw new AssertionError(message === undefined ? 'The expression evaluated to a falsy value' : String(message));
}

module.exports = assert;
module.exports.ok = assert;
module.exports.AssertionError = AssertionError;
