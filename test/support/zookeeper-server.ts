/**
 * Starts a real ZooKeeper server (Debian package `zookeeper`) on a free
 * loopback port with its own data directory. Used by the vitest global setup,
 * the benchmarks and anything else that needs a throwaway ensemble of one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const JAR_DIR = process.env.ZOOKEEPER_JARS ?? '/usr/share/java';
const JARS = [
  'zookeeper.jar',
  'zookeeper-jute.jar',
  'slf4j-api.jar',
  'slf4j-nop.jar',
  'netty-all.jar',
  'metrics-core.jar',
];

export interface RunningZooKeeper {
  readonly connect: string;
  readonly port: number;
  /** The server's JVM, for heap figures (`jcmd <pid> GC.heap_info`). */
  readonly pid: number;
  stop(): Promise<void>;
}

export interface ZooKeeperOptions {
  startTimeoutMs?: number;
  /**
   * The JVM's maximum heap (default 512 MB, room for the tests). ZooKeeper keeps every node in memory, and its
   * last 500 transactions: measured live after 500,000 index entries were seeded, 313 MB; after a catalog pass
   * whose multis rewrote 200 whole lists, 466 MB. So the 500k benchmarks ask for more.
   */
  heapMb?: number;
}

export const INSTALL_HINT =
  'ZooKeeper is required for the store contract suite and is not installed. ' +
  'Install it with: sudo apt-get install -y zookeeper   (Debian/Ubuntu; needs Java, e.g. default-jre-headless). ' +
  '`bash .ci/run` installs it for you.';

export function zooKeeperClasspath(): string {
  const missing = JARS.filter((jar) => !existsSync(join(JAR_DIR, jar)));
  if (missing.length > 0)
    throw new Error(`${INSTALL_HINT} (missing ${missing.map((j) => join(JAR_DIR, j)).join(', ')})`);
  return JARS.map((jar) => join(JAR_DIR, jar)).join(':');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter word and returns the reply ('' when the server does not answer in time). */
export async function fourLetterWord(port: number, word: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(timeoutMs);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('end', () => resolve(reply));
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve(reply));
  });
}

/** A ZooKeeper server JVM running on one config file. */
export interface ZooKeeperProcess {
  readonly child: ChildProcess;
  /** The last 4000 characters it wrote to stderr, for error messages. */
  stderr(): string;
  readonly exited: Promise<void>;
}

/** Starts Debian's ZooKeeper on `config`, with `jvmOptions` (heap, collector) before the common ones. */
export function spawnZooKeeper(config: string, jvmOptions: readonly string[]): ZooKeeperProcess {
  const child = spawn(
    process.env.JAVA ?? 'java',
    [
      ...jvmOptions,
      '-Djute.maxbuffer=4194304',
      '-Dzookeeper.jmx.log4j.disable=true',
      '-cp',
      zooKeeperClasspath(),
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      config,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, stderr: () => stderr, exited };
}

export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<RunningZooKeeper> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iota-zk-'));
  const config = join(dir, 'zoo.cfg');
  writeFileSync(
    config,
    [
      'tickTime=500',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr',
      // Tests fsync nothing of value; the benchmarks set their own config.
      `forceSync=${process.env.ZK_FORCE_SYNC ?? 'yes'}`,
      // Room for 5000-id resource lists and large multi transactions.
      'jute.maxbuffer=4194304',
    ].join('\n') + '\n',
  );
  const { child, stderr, exited } = spawnZooKeeper(config, [`-Xmx${options.heapMb ?? 512}m`]);

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ZooKeeper exited at start (code ${child.exitCode}): ${stderr()}`);
    if ((await fourLetterWord(port, 'ruok')) === 'imok') break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ZooKeeper did not answer on 127.0.0.1:${port} within the start timeout: ${stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    connect: `127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
