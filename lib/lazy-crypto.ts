/**
 * node:crypto, loaded at its first use. Loading it costs a Lambda cold start about 3 ms, and the
 * functions need it only on paths most invocations never take: an alert's node name, a request
 * without an id, ZooKeeper digest auth, a signed AWS call (README "Bundles").
 */
type NodeCrypto = typeof import('node:crypto');

let loaded: NodeCrypto | undefined;

export const nodeCrypto = (): NodeCrypto => (loaded ??= process.getBuiltinModule('node:crypto'));
