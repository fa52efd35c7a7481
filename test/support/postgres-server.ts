/**
 * Starts a real PostgreSQL server (Debian package `postgresql`) on a free
 * loopback port with its own data directory, the way zookeeper-server.ts
 * starts ZooKeeper. Used by the vitest global setup, the benchmarks and
 * anything else that needs a throwaway catalog database.
 *
 * initdb refuses to run as root, so as root every server command runs as the
 * `postgres` OS user (created by the Debian package) and the temporary
 * directory is handed to it. Authentication is `trust` (the server listens on
 * 127.0.0.1 and a socket in its own directory only), except for members of the
 * role `password_users`, who must give their password: tests of credentials
 * create their login roles IN ROLE password_users.
 */
import { execFile } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './zookeeper-server.js';

export interface RunningPostgres {
  /** postgresql://postgres@127.0.0.1:<port>/postgres (trust auth, no password). */
  readonly url: string;
  readonly port: number;
  /** Milliseconds from the call to a server accepting connections. */
  readonly startupMs: number;
  stop(): Promise<void>;
}

export const INSTALL_HINT =
  'PostgreSQL is required for the catalog tests and is not installed. ' +
  'Install it with: sudo apt-get install -y postgresql   (Debian/Ubuntu; or set PG_BIN to the directory holding initdb and pg_ctl). ' +
  '`bash scripts/test-deps.sh` (run by `npm test` and .ci/run) installs it for you.';

/** The directory holding initdb and pg_ctl: PG_BIN, or the newest /usr/lib/postgresql/<major>/bin. */
export function postgresBinDir(): string {
  const has = (dir: string): boolean => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  const override = process.env.PG_BIN;
  if (override) {
    if (!has(override)) throw new Error(`${INSTALL_HINT} (PG_BIN=${override} has no initdb and pg_ctl)`);
    return override;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+(\.\d+)?$/.test(name) && has(join(root, name, 'bin')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`${INSTALL_HINT} (no ${root}/<version>/bin/initdb)`);
  return join(root, versions[0]!, 'bin');
}

const OS_USER = 'postgres';

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a PostgreSQL program, as the `postgres` OS user when we are root. */
function run(program: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  const [file, argv] =
    process.getuid?.() === 0
      ? existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser')
        ? ['runuser', ['-u', OS_USER, '--', program, ...args]]
        : // su hands the arguments after the command to the shell as $0 and $@: no quoting of our own.
          ['su', [OS_USER, '-s', '/bin/sh', '-c', 'exec "$0" "$@"', program, ...args]]
      : [program, [...args]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const detail = `${stderr}${stdout}`.trim().slice(-4000);
        reject(new Error(`${[file, ...argv].join(' ')} failed (${error.message.split('\n')[0]}): ${detail}`));
      } else resolve({ stdout, stderr });
    });
  });
}

/** The uid/gid that owns the data directory: the `postgres` user's when we are root, ours otherwise. */
function serverOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${OS_USER}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined)
    throw new Error(
      `PostgreSQL refuses to run as root and there is no "${OS_USER}" OS user to run it as ` +
        '(the Debian package creates it). Run the tests as an ordinary user, or: sudo apt-get install -y postgresql',
    );
  return { uid: Number(uid), gid: Number(gid) };
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function acceptsConnections(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function startPostgres(options: { startTimeoutMs?: number } = {}): Promise<RunningPostgres> {
  const started = Date.now();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const bin = postgresBinDir();
  const owner = serverOwner();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iota-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const pgCtl = join(bin, 'pg_ctl');
  let serverStarted = false;
  try {
    if (owner) chownSync(dir, owner.uid, owner.gid);
    await run(
      join(bin, 'initdb'),
      [
        '--pgdata',
        data,
        '--username',
        'postgres',
        '--auth',
        'trust',
        '--encoding',
        'UTF8',
        // The cluster's default collation is plain C; suites that need a real locale create their database with one.
        '--no-locale',
        // A throwaway cluster: nothing to fsync, and it saves seconds on a busy disk.
        '--no-sync',
        '--no-instructions',
      ],
      startTimeoutMs,
    );
    // Members of `password_users` must log in with their password (scram), for the tests of credentials;
    // everyone else is trusted. pg_hba.conf is read top down, so this line goes first.
    const hba = join(data, 'pg_hba.conf');
    writeFileSync(hba, `host all +password_users 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    // Appended by us (root or not): the files keep their owner.
    appendFileSync(
      join(data, 'postgresql.conf'),
      [
        '',
        '# throwaway test server',
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        'max_connections = 100',
        'shared_buffers = 32MB',
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'logging_collector = off',
        '',
      ].join('\n'),
    );
    await run(
      pgCtl,
      ['start', '--pgdata', data, '--log', log, '--wait', '--timeout', String(Math.ceil(startTimeoutMs / 1000))],
      startTimeoutMs + 5000,
    );
    serverStarted = true;
    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + startTimeoutMs;
    while (!(await acceptsConnections(url))) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections on 127.0.0.1:${port} in time`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await withClient(url, (client) => client.query('CREATE ROLE password_users NOLOGIN'));
    return {
      url,
      port,
      startupMs: Date.now() - started,
      async stop() {
        await stopServer(pgCtl, data);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    const serverLog = existsSync(log) ? readFileSync(log, 'utf8').slice(-4000) : '';
    if (serverStarted) await stopServer(pgCtl, data);
    rmSync(dir, { recursive: true, force: true });
    const who = owner ? ` as OS user ${OS_USER}` : ` as ${userInfo().username}`;
    throw new Error(`PostgreSQL (${bin}) failed to start${who}: ${(error as Error).message}\n${serverLog}`);
  }
}

/** `pg_ctl stop -m immediate`; if that fails, SIGKILL the postmaster named in postmaster.pid. */
async function stopServer(pgCtl: string, data: string): Promise<void> {
  try {
    await run(pgCtl, ['stop', '--pgdata', data, '--mode', 'immediate', '--wait'], 30_000);
  } catch {
    const pidFile = join(data, 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : Number.NaN;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
