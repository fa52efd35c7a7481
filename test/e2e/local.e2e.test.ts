/// <reference lib="dom" />
/**
 * The local system end to end, in a real Chromium: `npm start` on free ports,
 * cm/notify creates over real MQTT, the dashboard showing them, Orchestrate
 * from the dashboard, a worker killed with SIGKILL and seen replaced and
 * heartbeating again, then a clean shutdown that leaves no process behind.
 * Screenshots land in test-results/e2e/ as artifacts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, isAlive, REPO_ROOT, startMain, waitFor, type RunningMain } from '../integration/local/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(REPO_ROOT, 'test-results', 'e2e');
const THINGS = ['thing-1', 'thing-2', 'thing-3', 'thing-4', 'thing-5', 'thing-6'];

interface Row {
  pod: string;
  phase: string;
  health: string;
  used: number;
  heartbeatAt: number | undefined;
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
  };
}

describe('npm start in a browser', () => {
  let main: RunningMain;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is required for the end-to-end test and was not found at ${CHROMIUM}. ` +
          'Install it with: sudo apt-get install -y chromium (Debian/Ubuntu), or set CHROMIUM_PATH. `bash .ci/run` installs it for you.',
      );
    }
    mkdirSync(SHOTS, { recursive: true });
    main = await startMain({ env: { HEARTBEAT_TIMEOUT_SECONDS: '15', STARTUP_GRACE_SECONDS: '10' } });
    browser = await chromium.launch({
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

    await page.getByTestId('locate-input-Thing').fill('thing-4');
    await page.getByTestId('locate-Thing').click();
    await expect.poll(() => page.getByTestId('locate-result-Thing').textContent()).toBe('0');
    await page.getByTestId('locate-input-Thing').fill('never-created');
    await page.getByTestId('locate-Thing').click();
    await expect.poll(() => page.getByTestId('locate-result-Thing').textContent()).toBe('N/A');
    await page.screenshot({ path: join(SHOTS, '1-assigned.png'), fullPage: true });
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
