/**
 * Starts a real ZooKeeper ensemble (Debian package `zookeeper`) of three
 * servers on free loopback ports, each with its own data directory, for tests
 * that crash a server under load. The four-letter words ruok, srvr and mntr
 * are enabled: `srvr` tells whether a server leads, follows or serves no one.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';
import { fourLetterWord, freePort, spawnZooKeeper } from './zookeeper-server.js';

export type ServerMode = 'leader' | 'follower' | 'standalone';

export interface EnsembleServer {
  /** Its `myid`, 1 to 3. */
  readonly id: number;
  /** host:port of its client port. */
  readonly connect: string;
  readonly running: boolean;
  /** Its mode by `srvr`; undefined while it serves no clients (electing, starting, or dead). */
  mode(): Promise<ServerMode | undefined>;
  /** SIGKILL: a crash, with no goodbye to its peers. Resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface RunningEnsemble {
  readonly servers: readonly EnsembleServer[];
  /** The connect string of every server, dead or alive, as clients are configured. */
  readonly connect: string;
  /** The connect string of the servers still running. */
  liveConnect(): string;
  /**
   * Polls `srvr` until one running server leads and every other running
   * server follows; resolves with the leader.
   */
  waitForQuorum(timeoutMs?: number): Promise<EnsembleServer>;
  stop(): Promise<void>;
}

export interface EnsembleOptions {
  /** Until every server answers `srvr` as leader or follower. Default 90 s: three JVMs start on a busy machine. */
  readonly startTimeoutMs?: number;
  /** Each JVM's maximum heap. Default 256 MB. */
  readonly heapMb?: number;
}

const SIZE = 3;

/** The "Mode: …" line of a `srvr` reply. */
const modeOf = (srvr: string): ServerMode | undefined =>
  /^Mode: (leader|follower|standalone)$/m.exec(srvr)?.[1] as ServerMode | undefined;

export async function startZooKeeperEnsemble(options: EnsembleOptions = {}): Promise<RunningEnsemble> {
  const dir = mkdtempSync(join(tmpdir(), 'iota-zk-ensemble-'));
  const ports = await Promise.all(
    Array.from({ length: SIZE }, async () => ({
      client: await freePort(),
      quorum: await freePort(),
      election: await freePort(),
    })),
  );
  const members = ports.map(({ quorum, election }, i) => `server.${i + 1}=127.0.0.1:${quorum}:${election}`);

  const children: ChildProcess[] = [];
  const servers = ports.map(({ client }, i): EnsembleServer => {
    const id = i + 1;
    const dataDir = join(dir, `server-${id}`);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'myid'), `${id}\n`);
    const config = join(dataDir, 'zoo.cfg');
    writeFileSync(
      config,
      [
        // Ticks of 1 s with generous limits: a follower on a loaded machine is not dropped for a slow tick.
        'tickTime=1000',
        'initLimit=30',
        'syncLimit=10',
        `dataDir=${dataDir}`,
        `clientPort=${client}`,
        'clientPortAddress=127.0.0.1',
        'maxClientCnxns=0',
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,srvr,mntr',
        // A crash of the process, not of the machine: what a quorum logged is in the page cache either way.
        'forceSync=no',
        'jute.maxbuffer=4194304',
        ...members,
      ].join('\n') + '\n',
    );
    const { child, stderr, exited } = spawnZooKeeper(config, [
      `-Xmx${options.heapMb ?? 256}m`,
      // Three JVMs on two cores: the serial collector and the quick compiler start them with less CPU.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
    ]);
    children.push(child);
    const running = () => child.exitCode === null && child.signalCode === null;
    return {
      id,
      connect: `127.0.0.1:${client}`,
      get running() {
        return running();
      },
      async mode() {
        if (!running()) {
          if (child.exitCode !== null && child.exitCode !== 0)
            throw new Error(`ZooKeeper server ${id} exited (code ${child.exitCode}): ${stderr()}`);
          return undefined;
        }
        return modeOf(await fourLetterWord(client, 'srvr', 2000));
      },
      async kill() {
        if (running()) child.kill('SIGKILL');
        await exited;
      },
    };
  });

  const live = () => servers.filter((server) => server.running);
  const ensemble: RunningEnsemble = {
    servers,
    connect: servers.map((server) => server.connect).join(','),
    liveConnect: () =>
      live()
        .map((server) => server.connect)
        .join(','),
    async waitForQuorum(timeoutMs = 60_000) {
      return waitFor(
        async () => {
          const running = live();
          const modes = await Promise.all(running.map((server) => server.mode()));
          const leaders = running.filter((_, i) => modes[i] === 'leader');
          const following = modes.every((mode) => mode === 'leader' || mode === 'follower');
          return leaders.length === 1 && following ? leaders[0] : undefined;
        },
        { what: 'a ZooKeeper leader with every running server following', timeoutMs, intervalMs: 50 },
      );
    },
    async stop() {
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await ensemble.waitForQuorum(options.startTimeoutMs ?? 90_000);
  } catch (error) {
    await ensemble.stop();
    throw error;
  }
  return ensemble;
}
