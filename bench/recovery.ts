/**
 * Failure-to-recovery time of a local worker: from the moment it is killed to
 * the first heartbeat of its replacement, as the store records it.
 *
 * Two failures, because they are found by different rules:
 * - `kill -9`: the process is gone, so the next reconcile run sees the pod
 *   Failed and replaces it (the pod monitor rule). The heartbeat timeout plays
 *   no part: recovery ≈ wait for the next reconcile tick + worker start-up.
 * - a hung worker (SIGSTOP): the process is there but silent, so only the
 *   heartbeat rule finds it: recovery ≈ timeout + up to one reconcile interval
 *   + start-up. This is where the 15 s local and 90 s legacy timeouts differ.
 *
 * Each setting runs `npm start` (real processes, embedded broker, SQLite) on
 * its default local intervals: reconcile every 10 s, heartbeat every 3 s.
 * Run alone with `npx tsx bench/recovery.ts` or via `npm run bench -- recovery`.
 */
import { pathToFileURL } from 'node:url';
import { createApp, type App } from '../lib/app.js';
import { getJson, isAlive, startMain, waitFor, type RunningMain } from '../test/integration/local/harness.js';

interface Sample {
  /** Kill to the replacement pod's creation (detection + reaction). */
  readonly detectMs: number;
  /** Kill to the replacement's first stored heartbeat. */
  readonly recoverMs: number;
}

interface Profile {
  readonly label: string;
  readonly env: Record<string, string>;
}

export interface RecoveryOptions {
  readonly kills?: number;
  /** Hung-worker samples per profile (local, legacy); each costs about the timeout. */
  readonly hung?: readonly [number, number];
}

const PROFILES: readonly Profile[] = [
  { label: 'local defaults (timeout 15 s, grace 10 s)', env: {} },
  { label: 'legacy timeout (HEARTBEAT_TIMEOUT_SECONDS=90)', env: { HEARTBEAT_TIMEOUT_SECONDS: '90' } },
];

/** npm start's default RECONCILE_INTERVAL. */
const RECONCILE_MS = 10_000;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const stats = (values: readonly number[]): string =>
  values.length === 0
    ? 'no samples'
    : `min ${seconds(Math.min(...values))}  median ${seconds(median(values))}  max ${seconds(Math.max(...values))}`;

interface Heard {
  readonly pod: string;
  readonly at: number;
}

/** The pod the store last heard instance 0 from, and when. */
async function lastHeard(app: App): Promise<Heard | undefined> {
  const beat = (await app.orchestrator.heartbeats('Thing')).get('0');
  const pod = beat?.extra?.podName;
  return beat && typeof pod === 'string' ? { pod, at: beat.at } : undefined;
}

/** Fails one worker with `signal` (not before `notBefore`) and measures until its replacement is heard. */
async function measure(
  main: RunningMain,
  app: App,
  signal: 'SIGKILL' | 'SIGSTOP',
  timeoutMs: number,
  notBefore = 0,
): Promise<Sample> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, notBefore - Date.now())));
  const before = await waitFor(() => lastHeard(app), 'a heartbeat from instance 0', 30_000);
  const pid = main.workerPids().get(before.pod);
  if (pid === undefined) throw new Error(`no process for ${before.pod}`);
  const failedAt = Date.now();
  process.kill(pid, signal);

  const heard = await waitFor(
    async () => {
      const now = await lastHeard(app);
      return now && now.pod !== before.pod && now.at > failedAt ? now : undefined;
    },
    `a heartbeat from the replacement of ${before.pod}`,
    timeoutMs,
    50,
  );
  const record = (await app.orchestrator.records('Thing')).get('0');
  if (signal === 'SIGSTOP') {
    // The recycle SIGKILLs it after its grace period; make sure nothing stopped is left behind.
    process.kill(pid, 'SIGCONT');
    await waitFor(() => (isAlive(pid) ? undefined : true), `stopped worker ${pid} to be gone`, 20_000).catch(() => {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });
  }
  return { detectMs: (record?.pod === heard.pod ? record.at : heard.at) - failedAt, recoverMs: heard.at - failedAt };
}

async function runProfile(
  profile: Profile,
  kills: number,
  hung: number,
  log: (line: string) => void,
): Promise<{ killed: Sample[]; hung: Sample[] }> {
  // Default local intervals: the harness's fast test intervals are switched off.
  const main = await startMain({
    env: { ...profile.env, RECONCILE_INTERVAL: undefined, HEARTBEAT_INTERVAL: undefined } as Record<
      string,
      string | undefined
    >,
  });
  const app = await createApp({ ORCH_DATA_DIR: main.dataDir });
  try {
    const response = await fetch(`${main.httpUrl}/v1/api/orchestrations/Thing/resources`, {
      method: 'POST',
      body: JSON.stringify({ ids: ['bench-thing'] }),
    });
    if (!response.ok) throw new Error(`assign failed: ${response.status} ${await response.text()}`);
    await waitFor(
      async () =>
        (await getJson<{ runIn?: string }>(`${main.httpUrl}/v1/api/orchestrations/Thing/bench-thing/instances`)).body
          .runIn === '0'
          ? true
          : undefined,
      'bench-thing assigned',
    );

    const timeout = Number(profile.env.HEARTBEAT_TIMEOUT_SECONDS ?? 15) * 1000;
    const killed: Sample[] = [];
    // Kills are spread evenly over the reconcile period (stratified by the last run's time), so the
    // wait for the next run is sampled over its whole range instead of locked to one phase.
    let lastRun = (await app.orchestrator.records('Thing')).get('0')?.at ?? Date.now();
    for (let i = 1; i <= kills; i++) {
      const offset = ((i - 0.5) / kills) * RECONCILE_MS;
      let killAt = lastRun + offset;
      while (killAt < Date.now() + 1000) killAt += RECONCILE_MS;
      const sample = await measure(main, app, 'SIGKILL', 60_000, killAt);
      killed.push(sample);
      lastRun = killAt + sample.detectMs;
      log(
        `  ${profile.label}: kill -9 #${i}: replacement heard after ${seconds(sample.recoverMs)} (created after ${seconds(sample.detectMs)})`,
      );
    }
    const stopped: Sample[] = [];
    for (let i = 1; i <= hung; i++) {
      const sample = await measure(main, app, 'SIGSTOP', timeout + 60_000);
      stopped.push(sample);
      log(
        `  ${profile.label}: hung (SIGSTOP) #${i}: replacement heard after ${seconds(sample.recoverMs)} (recycled after ${seconds(sample.detectMs)})`,
      );
    }
    return { killed, hung: stopped };
  } finally {
    await app.close();
    await main.stop();
    main.cleanup();
  }
}

export async function benchRecovery(log: (line: string) => void, options: RecoveryOptions = {}): Promise<void> {
  const kills = options.kills ?? 10;
  const hung = options.hung ?? [2, 1];
  log(
    `recovery of a local worker (npm start defaults: reconcile every 10 s, worker heartbeat every 3 s); ${kills} kills per setting`,
  );
  const results: Array<{ profile: Profile; killed: Sample[]; hung: Sample[] }> = [];
  for (const [index, profile] of PROFILES.entries()) {
    log(`- ${profile.label}`);
    results.push({ profile, ...(await runProfile(profile, kills, hung[index] ?? 0, log)) });
  }
  log('');
  log('kill -9 → replacement first heartbeat (found by the pod monitor rule: process gone = Failed)');
  for (const { profile, killed } of results) {
    log(
      `  ${profile.label.padEnd(48)} ${stats(killed.map((s) => s.recoverMs))}   (replacement created: median ${seconds(median(killed.map((s) => s.detectMs)))})`,
    );
  }
  log('hung worker (SIGSTOP) → replacement first heartbeat (found only by the heartbeat timeout)');
  for (const { profile, hung: stopped } of results) {
    log(
      `  ${profile.label.padEnd(48)} ${stats(stopped.map((s) => s.recoverMs))}   (${stopped.length} sample${stopped.length === 1 ? '' : 's'})`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRecovery((line) => console.log(line));
}
