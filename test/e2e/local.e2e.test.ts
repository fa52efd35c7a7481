/// <reference lib="dom" />
/**
 * The local system end to end, in a real Chromium: `npm start` on free ports,
 * cm/notify creates over real MQTT, the dashboard showing them, Orchestrate
 * from the dashboard, a worker killed with SIGKILL and seen replaced and
 * heartbeating again, then a clean shutdown that leaves no process behind.
 * Then a second system whose Thing kind autoscales on CPU, with workers that
 * burn CPU per served Thing: a load seen on the dashboard, a scale-out with its
 * reason, resources moved to the new workers and the CPU per worker falling;
 * then most Things deleted and the pool shrinking, every kept Thing still placed.
 * Then the console signed in with OpenID Connect against a real provider: the
 * console routes refusing a request without its token, the kinds as tabs with
 * their counts and the capacity their instances hold, each pod Running from
 * its first heartbeat, filter and sort, an instance opened from its row with
 * its resources searched and paged, and the alert banner.
 * Screenshots land in test-results/e2e/ as artifacts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, isAlive, REPO_ROOT, startMain, waitFor, type RunningMain } from '../integration/local/harness.js';
import { type RunningOidcProvider, startOidcProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/zookeeper-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(REPO_ROOT, 'test-results', 'e2e');
const THINGS = ['thing-1', 'thing-2', 'thing-3', 'thing-4', 'thing-5', 'thing-6'];

interface Row {
  pod: string;
  phase: string;
  health: string;
  used: number;
  heartbeatAt: number | undefined;
  draining: boolean;
}

async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is required for the end-to-end test and was not found at ${CHROMIUM}. ` +
        'Install it with: sudo apt-get install -y chromium (Debian/Ubuntu), or set CHROMIUM_PATH. `bash .ci/run` installs it for you.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

async function publishNotify(mqttPort: number, message: Record<string, unknown>): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`);
  await client.publishAsync('cm/notify', JSON.stringify(message), { qos: 1 });
  await client.endAsync();
}

async function row(page: Page, kind: string, instanceId: string): Promise<Row | undefined> {
  const el = page.getByTestId(`instance-${kind}-${instanceId}`);
  if ((await el.count()) === 0) return undefined;
  const attrs = await el.evaluate((node) => ({
    ...(node as unknown as { dataset: Record<string, string | undefined> }).dataset,
  }));
  return {
    pod: attrs.pod ?? '',
    phase: attrs.phase ?? '',
    health: attrs.health ?? '',
    used: Number(attrs.used),
    heartbeatAt: attrs.heartbeatAt ? Number(attrs.heartbeatAt) : undefined,
    draining: attrs.draining === 'true',
  };
}

/** Every instance row of a kind on the dashboard, by instance id. */
async function rows(page: Page, kind: string): Promise<Map<string, Row & { cpu: number | undefined }>> {
  const all = await page
    .getByTestId(`instances-${kind}`)
    .locator('tr[data-testid]')
    .evaluateAll((nodes) =>
      nodes.map(
        (node): Record<string, string | undefined> => ({
          ...(node as HTMLElement).dataset,
          cpu: node.querySelector<HTMLElement>('[data-testid^="usage-cpu-"]')?.dataset.value,
        }),
      ),
    );
  const byId = new Map<string, Row & { cpu: number | undefined }>();
  for (const attrs of all) {
    const id = attrs.testid?.slice(`instance-${kind}-`.length) ?? '';
    byId.set(id, {
      pod: attrs.pod ?? '',
      phase: attrs.phase ?? '',
      health: attrs.health ?? '',
      used: Number(attrs.used),
      heartbeatAt: attrs.heartbeatAt ? Number(attrs.heartbeatAt) : undefined,
      draining: attrs.draining === 'true',
      cpu: attrs.cpu ? Number(attrs.cpu) : undefined,
    });
  }
  return byId;
}

const numberOf = async (page: Page, testId: string): Promise<number> =>
  Number(await page.getByTestId(testId).textContent());

describe('npm start in a browser', () => {
  let main: RunningMain;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
    main = await startMain({ env: { HEARTBEAT_TIMEOUT_SECONDS: '15', STARTUP_GRACE_SECONDS: '10' } });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await main?.stop();
    main?.cleanup();
  });

  it('shows Things published on cm/notify, each on a running, heartbeating worker', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${main.mqttPort}`);
    for (const id of THINGS)
      await client.publishAsync('cm/notify', JSON.stringify({ o: 'c', t: 'Thing', k: { id }, instance: { id } }), {
        qos: 1,
      });
    await client.endAsync();

    await page.goto(`${main.httpUrl}/`);
    await expect
      .poll(() => page.getByTestId('summary-Thing').textContent(), { timeout: 20_000 })
      .toContain(`${THINGS.length} of`);
    const first = await waitFor(async () => {
      const r = await row(page, 'Thing', '0');
      return r && r.phase === 'Running' && r.health === 'healthy' ? r : undefined;
    }, 'instance 0 running and healthy on the dashboard');
    expect(first.used).toBe(THINGS.length);
    // Scaling is off by default; the worker's CPU and memory are shown all the same.
    expect(await page.getByTestId('scaling-Thing').getAttribute('data-enabled')).toBe('false');
    expect(await page.getByTestId('scaling-state-Thing').textContent()).toBe('disabled');
    await expect
      .poll(() => page.getByTestId('usage-memory-Thing-0').getAttribute('data-value'), { timeout: 10_000 })
      .toMatch(/^\d/);

    await page.getByTestId('locate-input-Thing').fill('thing-4');
    await page.getByTestId('locate-Thing').click();
    await expect.poll(() => page.getByTestId('locate-result-Thing').textContent()).toBe('0');
    await page.getByTestId('locate-input-Thing').fill('never-created');
    await page.getByTestId('locate-Thing').click();
    await expect.poll(() => page.getByTestId('locate-result-Thing').textContent()).toBe('N/A');
    await page.screenshot({ path: join(SHOTS, '1-assigned.png'), fullPage: true });

    // A catalog pass asked for through the API shows as requested (no catalog is configured here, so it stays so).
    const asked = await fetch(`${main.httpUrl}/v1/api/orchestrations/Thing/catalog-check`, { method: 'POST' });
    expect(asked.status).toBe(202);
    await expect
      .poll(() => page.getByTestId('catalog-Thing').textContent(), { timeout: 10_000 })
      .toMatch(/^no pass yet · pass requested /);
    expect(await page.getByTestId('catalog-Thing').getAttribute('data-status')).toBe('requested');
  });

  it('reports the server message when Orchestrate is refused, and success when it runs', async () => {
    await page.getByTestId('maxInstances-Thing').fill('2');
    await page.getByTestId('orchestrate-Thing').click();
    const result = page.getByTestId('orchestrate-result-Thing');
    await expect.poll(() => result.getAttribute('data-outcome')).toBe('failure');
    expect(await result.textContent()).toMatch(/^Orchestration failed: .*maxInstances/);

    await page.getByTestId('maxInstances-Thing').fill('');
    await page.getByTestId('initInstances-Thing').fill('3');
    await page.getByTestId('orchestrate-Thing').click();
    await expect.poll(() => result.getAttribute('data-outcome')).toBe('success');
    expect(await result.textContent()).toMatch(/^Orchestration succeeded: 3 instances/);

    const rows = await waitFor(
      async () => {
        const all = await Promise.all(['0', '1', '2'].map((id) => row(page, 'Thing', id)));
        return all.every((r) => r && r.phase === 'Running' && r.health === 'healthy') ? (all as Row[]) : undefined;
      },
      'three running, healthy Thing instances after Orchestrate',
      30_000,
    );
    expect(rows.reduce((sum, r) => sum + r.used, 0)).toBe(THINGS.length);
    expect(rows.every((r) => r.used > 0)).toBe(true);
    await page.screenshot({ path: join(SHOTS, '2-orchestrated.png'), fullPage: true });
  });

  it('replaces a worker killed with SIGKILL and shows the replacement heartbeating', async () => {
    const before = (await row(page, 'Thing', '1'))!;
    const pid = main.workerPids().get(before.pod);
    expect(pid, `state file of ${before.pod}`).toBeGreaterThan(1);
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');

    const after = await waitFor(
      async () => {
        const r = await row(page, 'Thing', '1');
        return r &&
          r.pod !== before.pod &&
          r.phase === 'Running' &&
          r.health === 'healthy' &&
          (r.heartbeatAt ?? 0) > killedAt
          ? r
          : undefined;
      },
      `instance 1 replaced after killing ${before.pod} (pid ${pid})`,
      30_000,
    );
    expect(isAlive(pid!)).toBe(false);
    expect(after.pod).toMatch(/^iota-dac-1-g\d+$/);
    const replacementPid = main.workerPids().get(after.pod);
    expect(replacementPid !== undefined && isAlive(replacementPid)).toBe(true);
    await page.screenshot({ path: join(SHOTS, '3-recovered.png'), fullPage: true });

    const { body } = await getJson<{ runIn: string }>(`${main.httpUrl}/v1/api/orchestrations/Thing/thing-1/instances`);
    expect(['0', '1', '2']).toContain(body.runIn);
  });

  it('stops every worker, the broker and the store on SIGTERM', async () => {
    const workers = [...main.workerPids().values()];
    expect(workers.length).toBe(3);
    const code = await main.stop();
    expect(code).toBe(0);
    expect(workers.filter(isAlive)).toEqual([]);
    expect(main.workerPids().size).toBe(0);
    await expect(fetch(`${main.httpUrl}/v1/api/health`)).rejects.toThrow();
  });
});

/**
 * Scaling seen on the dashboard. Thing scales on CPU with a low target (20 % of the
 * 250m request) and each worker burns 3 ms of CPU per Thing per second: 40 Things on
 * the one instance the first create opens read about 50 %, so the first reconcile run
 * after the start-up grace opens more instances, and the moves follow as soon as their
 * workers heartbeat. maxInstances 4 bounds the processes on a small machine. Then most
 * Things are deleted: once the 8 s window holds only lower recommendations, the pool
 * shrinks, one drained instance per run, back to minInstances (1).
 */
describe('npm start scaling out under load, in a browser', () => {
  const LOADED = Array.from({ length: 40 }, (_, i) => `load-${i + 1}`);
  const TARGET = 20;
  let main: RunningMain;
  let browser: Browser;
  let page: Page;
  let scaledOut = 0;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
    main = await startMain({
      env: {
        HEARTBEAT_TIMEOUT_SECONDS: '15',
        // Time for a worker's first heartbeat on a busy machine; its start-up CPU (node + tsx) never reads as load.
        STARTUP_GRACE_SECONDS: '10',
        WORKER_CPU_MS_PER_RESOURCE: '3',
        ORCH_KINDS: JSON.stringify([
          {
            resource: 'Thing',
            instanceName: 'iota-dac',
            heartbeat: true,
            initInstances: 1,
            scaling: {
              enabled: true,
              targetCpuUtilization: TARGET,
              maxInstances: 4,
              scaleDownStabilizationSeconds: 8,
            },
          },
        ]),
      },
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await main?.stop();
    main?.cleanup();
  });

  it('shows the load, the scale-out with its reason, the moves, and the CPU per worker falling', async () => {
    await publishNotify(main.mqttPort, { o: 'bc', t: 'Thing', keys: LOADED.map((id) => ({ id })) });
    await page.goto(`${main.httpUrl}/`);
    expect(await page.getByTestId('scaling-state-Thing').textContent()).toBe('enabled');

    // One instance holds them all, and its worker reads as loaded before anything scales.
    const before = await waitFor(
      async () => {
        const all = await rows(page, 'Thing');
        const first = all.get('0');
        return all.size === 1 && first?.used === LOADED.length && first.cpu !== undefined ? first : undefined;
      },
      'instance 0 holding every Thing, with a CPU reading, before any scale-out',
      30_000,
    );
    const initial = await numberOf(page, 'current-Thing');
    expect(initial).toBe(1);
    await page.screenshot({ path: join(SHOTS, '4-loaded.png'), fullPage: true });

    // The decision: desired above what there was, for a CPU reason.
    await expect.poll(() => numberOf(page, 'desired-Thing'), { timeout: 30_000 }).toBeGreaterThan(initial);
    const decision = page.getByTestId('last-decision-Thing');
    expect(Number(await decision.getAttribute('data-from'))).toBe(initial);
    expect(Number(await decision.getAttribute('data-to'))).toBeGreaterThan(initial);
    const reason = (await page.getByTestId('last-decision-reason-Thing').textContent()) ?? '';
    expect(reason).toMatch(new RegExp(`^cpu \\d+% of target ${TARGET}%`));
    expect(await decision.textContent()).toMatch(/^scaled out 1 → \d/);

    // More rows, then every Thing spread over running workers, no move owed.
    const spread = await waitFor(
      async () => {
        const all = await rows(page, 'Thing');
        const list = [...all.values()];
        const remaining = await page.getByTestId('moves-Thing').getAttribute('data-remaining');
        return all.size > initial &&
          remaining === '0' &&
          list.every((r) => r.used > 0 && r.phase === 'Running' && !r.draining) &&
          list.reduce((sum, r) => sum + r.used, 0) === LOADED.length
          ? all
          : undefined;
      },
      'Things moved to the new, running workers',
      30_000,
    );
    expect(spread.size).toBeLessThanOrEqual(4);
    expect(Math.max(...[...spread.values()].map((r) => r.used))).toBeLessThan(LOADED.length);
    expect(await numberOf(page, 'current-Thing')).toBe(spread.size);
    await page.screenshot({ path: join(SHOTS, '5-scaled-out.png'), fullPage: true });

    // Spread over more workers, the mean CPU per worker falls below what the one worker read.
    await waitFor(
      async () => {
        const cpus = [...(await rows(page, 'Thing')).values()].map((r) => r.cpu);
        if (cpus.some((cpu) => cpu === undefined)) return undefined;
        const mean = (cpus as number[]).reduce((sum, cpu) => sum + cpu, 0) / cpus.length;
        return mean < before.cpu! ? mean : undefined;
      },
      `the mean CPU per worker below instance 0's ${before.cpu}% before the scale-out`,
      20_000,
    );

    // npm start told it on the console.
    const told = main
      .events()
      .filter((event) => event.event === 'scale')
      .map((event) => String(event.msg));
    expect(told.find((line) => line.startsWith('Thing  scaling out 1 → '))).toMatch(
      /^Thing {2}scaling out 1 → \d: cpu .*; opened instances? [\d, ]+$/,
    );
    expect(told.some((line) => /^Thing {2}moved \d+ resources? to serving workers/.test(line))).toBe(true);
    scaledOut = await numberOf(page, 'current-Thing');
  });

  it('shrinks the pool back to one instance once the load is gone, and says so', async () => {
    expect(scaledOut).toBeGreaterThan(1);
    const kept = LOADED.slice(0, 4);
    // What npm start tells from here on: an instance removed while the load was rising may since have been
    // opened again under the same id (the smallest unused one).
    const toldBefore = main.events().length;
    const toldSince = () =>
      main
        .events()
        .slice(toldBefore)
        .filter((event) => event.event === 'scale')
        .map((event) => String(event.msg));
    await publishNotify(main.mqttPort, { o: 'bd', t: 'Thing', where: { id: LOADED.slice(kept.length) } });

    // The pool shrinks one drained instance per run, down to minInstances (1): wait for the floor, not for the
    // first smaller pool, which a later run shrinks again. Settled: nothing drains, every kept Thing is placed.
    const after = await waitFor(
      async () => {
        const decision = page.getByTestId('last-decision-Thing');
        const from = Number(await decision.getAttribute('data-from'));
        const to = Number(await decision.getAttribute('data-to'));
        const current = await numberOf(page, 'current-Thing');
        const all = await rows(page, 'Thing');
        const list = [...all.values()];
        return to < from &&
          to === 1 &&
          current === 1 &&
          all.size === 1 &&
          list.every((r) => !r.draining && r.phase === 'Running') &&
          list.reduce((sum, r) => sum + r.used, 0) === kept.length
          ? all
          : undefined;
      },
      'the Thing pool back to one instance after the load went, nothing draining, every kept Thing still placed',
      90_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nscale events since the load went:\n${toldSince().join('\n')}`);
    });
    expect(await page.getByTestId('last-decision-Thing').textContent()).toMatch(/^scaled in \d → 1/);
    await page.screenshot({ path: join(SHOTS, '6-scaled-in.png'), fullPage: true });

    // Every kept Thing still runs on the instance that is left.
    for (const id of kept) {
      const { status, body } = await getJson<{ runIn: string }>(
        `${main.httpUrl}/v1/api/orchestrations/Thing/${id}/instances`,
      );
      expect(status).toBe(200);
      expect(after.has(body.runIn)).toBe(true);
    }
    // npm start told it: a scale-in line, and each instance it removed, none of them still shown.
    const told = toldSince();
    expect(told.some((line) => /^Thing {2}scaling in \d → \d: cpu .*; draining instances? \d/.test(line))).toBe(true);
    // Removed since the last scale-out: one removed before it may have been opened again under its id.
    const lastScaleOut = told.findLastIndex((line) => line.startsWith('Thing  scaling out'));
    const removed = told
      .slice(lastScaleOut + 1)
      .flatMap((line) => /^Thing instance (\d+): drained and removed/.exec(line)?.[1] ?? []);
    expect(removed.length, told.join('\n')).toBeGreaterThan(0);
    expect(
      removed.filter((id) => after.has(id)),
      told.join('\n'),
    ).toEqual([]);

    const workers = [...main.workerPids().values()];
    expect(workers.length).toBe(after.size);
    expect(await main.stop()).toBe(0);
    expect(workers.filter(isAlive)).toEqual([]);
  }, 150_000);
});

/**
 * The console as people use it once deployed: signed in with OpenID Connect (authorization code + PKCE, a
 * real provider on loopback), the console routes verifying its JWT as the HTTP API's JWT authorizer does.
 * Reconcile runs only when something kicks it (an orchestrate, a new instance), so a pod it created is not
 * observed again by a later run: its row can read Running only from its worker's first heartbeat.
 */
describe('the console signed in with OpenID Connect, in a browser', () => {
  const CLIENT = 'iota-console';
  // oidc-provider names a resource server by an absolute URI.
  const AUDIENCE = 'urn:iota-orchestrator:api';
  const RULES = Array.from({ length: 150 }, (_, i) => `rule-${String(i).padStart(3, '0')}`);
  const ACCESS_TOKEN_TTL_SECONDS = 75;
  let provider: RunningOidcProvider;
  let main: RunningMain;
  let browser: Browser;
  let page: Page;

  const consoleUrl = (path: string) => `${main.httpUrl}/console/v1/api${path}`;
  /** The access token the page sends with its API calls, once signed in. */
  let accessToken = '';
  const asSignedIn = async (method: string, path: string, body?: unknown) =>
    fetch(consoleUrl(path), {
      method,
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  /** The ids of a kind's visible rows, in the order shown. */
  const shownOrder = (kind: string) =>
    page
      .getByTestId(`instances-${kind}`)
      .locator('tr[data-testid]:visible')
      .evaluateAll((nodes) => nodes.map((node) => (node as HTMLElement).dataset.testid?.split('-').pop() ?? ''));
  const countOf = async (testId: string) => page.getByTestId(testId).getAttribute('data-value');

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const port = await freePort();
    provider = await startOidcProvider({
      clientId: CLIENT,
      redirectUri: `http://127.0.0.1:${port}/`,
      audience: AUDIENCE,
      // The page renews a token with a minute left: this one is renewed 15 s after each sign-in or renewal.
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
    });
    browser = await launchChromium();
    main = await startMain({
      port,
      env: {
        HEARTBEAT_TIMEOUT_SECONDS: '15',
        STARTUP_GRACE_SECONDS: '10',
        RECONCILE_INTERVAL: '3600',
        CONSOLE_OIDC_ISSUER: provider.issuer,
        CONSOLE_OIDC_CLIENT_ID: CLIENT,
        CONSOLE_OIDC_AUDIENCE: AUDIENCE,
        CONSOLE_OIDC_SCOPE: 'openid profile',
      },
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await main?.stop();
    main?.cleanup();
    await provider?.close();
  });

  it('asks to sign in, signs in at the provider, and only then reads the console routes', async () => {
    expect((await fetch(consoleUrl('/orchestrations'))).status).toBe(401);
    await page.goto(`${main.httpUrl}/`);
    await expect.poll(() => page.getByTestId('signin').isVisible()).toBe(true);
    expect(await page.getByTestId('kinds').locator('section').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, '7-sign-in.png'), fullPage: true });

    const firstCall = page.waitForRequest((request) => request.url().startsWith(consoleUrl('/')), { timeout: 60_000 });
    await page.getByTestId('signin-button').click();
    await page.waitForURL(`${provider.issuer}/**`);
    await page.locator('input[name="login"]').fill('operator');
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${main.httpUrl}/**`);

    await expect.poll(() => page.getByTestId('account-name').textContent(), { timeout: 10_000 }).toBe('operator');
    expect(await page.getByTestId('signin').isVisible()).toBe(false);
    expect(new URL(page.url()).search).toBe('');
    accessToken = /^Bearer (\S+)$/.exec((await firstCall).headers().authorization ?? '')?.[1] ?? '';
    expect(accessToken.split('.')).toHaveLength(3);
    expect((await asSignedIn('GET', '/orchestrations')).status).toBe(200);
    const forged = await fetch(consoleUrl('/orchestrations'), { headers: { authorization: 'Bearer not.a.token' } });
    expect(forged.status).toBe(401);
  });

  it('shows kinds as tabs with their counts and capacity, each pod Running from its first heartbeat', async () => {
    await publishNotify(main.mqttPort, {
      o: 'bc',
      t: 'Thing',
      keys: ['t-1', 't-2', 't-3', 't-4'].map((id) => ({ id })),
    });
    await expect
      .poll(() => page.getByTestId('summary-Thing').textContent(), { timeout: 20_000 })
      .toContain('4 of 5000');
    expect(await page.getByTestId('resourcePerInstance-Thing').getAttribute('placeholder')).toBe('default 5000');

    await page.getByTestId('initInstances-Thing').fill('3');
    await page.getByTestId('maxInstances-Thing').fill('3');
    await page.getByTestId('resourcePerInstance-Thing').fill('2');
    await page.getByTestId('orchestrate-Thing').click();
    const result = page.getByTestId('orchestrate-result-Thing');
    await expect.poll(() => result.getAttribute('data-outcome')).toBe('success');
    expect(await result.textContent()).toMatch(/^Orchestration succeeded: 3 instances, 2 per instance/);
    const orchestratedAt = Date.now();

    await waitFor(
      async () => {
        const all = await Promise.all(['0', '1', '2'].map((id) => row(page, 'Thing', id)));
        return all.every((r) => r?.phase === 'Running' && r.health === 'healthy') ? all : undefined;
      },
      'three Thing pods Running and healthy, with no reconcile run after the one that created them',
      30_000,
    );
    expect(Date.now() - orchestratedAt).toBeLessThan(30_000);
    // What reconcile recorded when it created the pod still says Pending: the row read Running from the heartbeat.
    const { body: opened } = await getJson<{ record: { phase: string }; pod: { phase: string } }>(
      `${main.httpUrl}/v1/api/orchestrations/Thing/instances/1`,
    );
    expect(opened).toMatchObject({ record: { phase: 'Pending' }, pod: { phase: 'Running' } });

    await expect.poll(() => countOf('count-healthy-Thing'), { timeout: 10_000 }).toBe('3');
    expect(await countOf('count-instances-Thing')).toBe('3');
    expect(await countOf('count-stale-Thing')).toBe('0');
    expect(await countOf('count-pods-pending-Thing')).toBe('0');
    expect(await countOf('count-resources-pending-Thing')).toBe('0');
    expect(await page.getByTestId('capacity-now-Thing').textContent()).toBe('2 per instance now');
    expect(await page.getByTestId('tab-counts-Thing').textContent()).toBe(' 3');

    expect(await page.getByTestId('tab-Thing').getAttribute('aria-selected')).toBe('true');
    expect(await page.getByTestId('kind-Rule').isVisible()).toBe(false);
    await page.getByTestId('tab-Rule').click();
    expect(await page.getByTestId('kind-Rule').isVisible()).toBe(true);
    expect(await page.getByTestId('kind-Thing').isVisible()).toBe(false);
    expect(new URL(page.url()).hash).toBe('#Rule');
    await page.getByTestId('tab-Thing').click();
    await page.screenshot({ path: join(SHOTS, '8-tabs-counts-capacity.png'), fullPage: true });
  });

  it('filters and sorts the instance rows, and keeps doing so as they refresh', async () => {
    const { ids } = (
      (await (await asSignedIn('GET', '/orchestrations/Thing/instances/0')).json()) as {
        resources: { ids: string[] };
      }
    ).resources;
    expect(ids.length).toBeGreaterThan(0);
    expect((await asSignedIn('DELETE', '/orchestrations/Thing/resources', { ids })).status).toBe(200);
    await expect.poll(async () => (await row(page, 'Thing', '0'))?.used, { timeout: 10_000 }).toBe(0);

    await page.getByTestId('sort-Thing').selectOption('used');
    const byUsed = [...(await rows(page, 'Thing')).entries()]
      .sort(([a, x], [b, y]) => y.used - x.used || Number(a) - Number(b))
      .map(([id]) => id);
    expect(byUsed.at(-1)).toBe('0');
    await expect.poll(() => shownOrder('Thing')).toEqual(byUsed);
    // A refresh re-renders the rows: the order holds.
    const refreshed = await page.getByTestId('last-refresh').getAttribute('data-at');
    await expect
      .poll(() => page.getByTestId('last-refresh').getAttribute('data-at'), { timeout: 10_000 })
      .not.toBe(refreshed);
    expect(await shownOrder('Thing')).toEqual(byUsed);

    await page.getByTestId('filter-Thing').selectOption('stale');
    expect(await shownOrder('Thing')).toEqual([]);
    expect(await page.getByTestId('shown-Thing').textContent()).toBe('showing 0 of 3');
    await page.getByTestId('filter-Thing').selectOption('healthy');
    expect((await shownOrder('Thing')).length).toBe(3);
    await page.getByTestId('filter-text-Thing').fill('2');
    expect(await shownOrder('Thing')).toEqual(['2']);
    await page.screenshot({ path: join(SHOTS, '9-filter-sort.png'), fullPage: true });
    await page.getByTestId('filter-text-Thing').fill('');
    await page.getByTestId('filter-Thing').selectOption('all');
    await page.getByTestId('sort-Thing').selectOption('id');
    expect(await shownOrder('Thing')).toEqual(['0', '1', '2']);
  });

  it('opens an instance from its row: pod, heartbeat, record, and its resources searched and paged', async () => {
    await page.getByTestId('open-Thing-1').click();
    const dialog = page.getByTestId('instance-view');
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await expect.poll(() => page.getByTestId('instance-health').textContent()).toBe('healthy');
    expect(await page.getByTestId('instance-pod').textContent()).toMatch(/^iota-dac-1-g\d+ Running$/);
    expect(await page.getByTestId('instance-heartbeat').textContent()).toMatch(/\((just now|\d+ s ago)\) · podName=/);
    expect(await page.getByTestId('instance-record').textContent()).toMatch(/^created: /);
    await page.getByTestId('instance-close').click();
    expect(await dialog.isVisible()).toBe(false);

    expect((await asSignedIn('POST', '/orchestrations/Rule/resources', { ids: RULES })).status).toBe(200);
    await page.getByTestId('tab-Rule').click();
    await expect.poll(async () => (await row(page, 'Rule', '0'))?.used, { timeout: 10_000 }).toBe(RULES.length);
    await page.getByTestId('open-Rule-0').click();
    const listed = page.getByTestId('instance-resources').locator('li');
    const count = page.getByTestId('instance-resources-count');
    await expect.poll(() => listed.count()).toBe(100);
    expect(await count.getAttribute('data-total')).toBe('150');
    expect(await page.getByTestId('instance-used').textContent()).toBe('150 / 5000');

    await page.getByTestId('instance-more').click();
    await expect.poll(() => listed.count()).toBe(150);
    expect(await listed.allTextContents()).toEqual(RULES);
    expect(await page.getByTestId('instance-more').isVisible()).toBe(false);

    await page.getByTestId('instance-search').fill('-14');
    await expect.poll(() => count.getAttribute('data-matched')).toBe('10');
    expect(await listed.allTextContents()).toEqual(RULES.filter((id) => id.startsWith('rule-14')));
    await page.screenshot({ path: join(SHOTS, '10-instance-view.png'), fullPage: true });
    await page.getByTestId('instance-close').click();
    await page.getByTestId('tab-Thing').click();
  });

  it('shows the alerts kept in the store in a banner, each with its time', async () => {
    expect(await page.getByTestId('alerts').isVisible()).toBe(false);
    const before = Date.now();
    // Room for 4 more (3 instances of 2, instance 0 emptied): 2 of these wait, and the kind alerts once.
    const more = ['t-5', 't-6', 't-7', 't-8', 't-9', 't-10'];
    await publishNotify(main.mqttPort, { o: 'bc', t: 'Thing', keys: more.map((id) => ({ id })) });

    const alert = page.getByTestId('alerts-list').locator('[data-type="capacity-exhausted"]');
    await expect.poll(() => alert.count(), { timeout: 15_000 }).toBe(1);
    expect(await page.getByTestId('alerts').isVisible()).toBe(true);
    expect(Number(await alert.getAttribute('data-at'))).toBeGreaterThanOrEqual(before - 1000);
    expect(await alert.locator('time').textContent()).toBe(
      await page.evaluate((at) => new Date(at).toLocaleTimeString(), Number(await alert.getAttribute('data-at'))),
    );
    expect(await alert.textContent()).toContain('Thing capacity exhausted');
    await expect.poll(() => countOf('count-resources-pending-Thing'), { timeout: 10_000 }).toBe('2');
    await page.screenshot({ path: join(SHOTS, '11-alert-banner.png'), fullPage: true });

    await page.getByTestId('alerts-dismiss').click();
    expect(await page.getByTestId('alerts').isVisible()).toBe(false);
  });

  it('renews its access token with the refresh token before it expires, and never asks to sign in again', async () => {
    const bearer = (request: { headers(): Record<string, string> }) =>
      /^Bearer (\S+)$/.exec(request.headers().authorization ?? '')?.[1];
    const first = accessToken;
    const signedInAt = JSON.parse(Buffer.from(first.split('.')[1]!, 'base64url').toString()) as { exp: number };

    // Well past the first token's expiry, the page still reads the console routes, with another token.
    const later = await page.waitForRequest(
      (request) =>
        request.url().startsWith(consoleUrl('/')) &&
        Date.now() / 1000 > signedInAt.exp + 5 &&
        bearer(request) !== undefined,
      { timeout: (ACCESS_TOKEN_TTL_SECONDS + 30) * 1000 },
    );

    accessToken = bearer(later)!;
    expect(accessToken).not.toBe(first);
    const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { exp: number };
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect((await asSignedIn('GET', '/orchestrations')).status).toBe(200);
    expect(await page.getByTestId('signin').isVisible()).toBe(false);
    expect(await page.getByTestId('account-name').textContent()).toBe('operator');
  }, 150_000);

  it('signs out', async () => {
    await page.getByTestId('signout-button').click();

    await expect.poll(() => page.getByTestId('signin').isVisible()).toBe(true);
    expect(await page.getByTestId('signin-reason').textContent()).toBe('Signed out.');
    // Signed out for good: a reload asks to sign in again and shows no kind.
    await page.reload();
    await expect.poll(() => page.getByTestId('signin').isVisible()).toBe(true);
    expect(await page.getByTestId('kinds').locator('section').count()).toBe(0);
  });
});
