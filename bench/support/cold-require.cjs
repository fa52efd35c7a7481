// Times the require() of the bundle named by argv[2], as the Lambda runtime loads a handler: from a
// module of its own (not `node -e`, whose context has node:crypto loaded already). Prints JSON.
const nodeStartMs = performance.now();
const cpuBefore = process.cpuUsage();
const start = performance.now();
const loaded = require(process.argv[2]);
const wallMs = performance.now() - start;
const cpu = process.cpuUsage(cpuBefore);
if (typeof loaded.handler !== 'function') {
  console.error('no handler export');
  process.exit(3);
}
process.stdout.write(JSON.stringify({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, nodeStartMs }));
