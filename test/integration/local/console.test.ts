/**
 * The pretty console of `npm start` prints each thing once: the components'
 * log records become console lines (never JSON among them), and the records
 * of what the console narrates (here a dropped cm/notify message) are not
 * printed a second time. Real App on the embedded store, real logger.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../lib/app.js';
import { handleNotifyBatch, LOGGED_PAYLOAD_BYTES } from '../../../lib/handlers/notify-batch.js';
import { createLogger } from '../../../lib/log.js';
import { Metrics } from '../../../lib/metrics.js';
import { createConsole, type LocalConsole } from '../../../lib/local/console.js';
import { describeNotify } from '../../../lib/local/narrate.js';

const noMetrics = (): Metrics => new Metrics('test', {}, () => undefined);

describe('the pretty console', () => {
  let dir: string;
  let app: App;
  let out: LocalConsole;
  let printed: string;
  const lines = (): string[] => printed.split('\n').filter(Boolean);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iota-console-'));
    printed = '';
    out = createConsole({
      format: 'pretty',
      logger: createLogger({ level: 'silent' }),
      write: (text) => {
        printed += text;
      },
      now: () => new Date(2025, 0, 1, 12, 0, 0),
    });
    // As `npm start` builds it in pretty mode: the components log warnings and worse, through the console.
    const logger = createLogger({ level: 'warn', bindings: { component: 'app' }, destination: out.logDestination });
    app = await createApp({ ORCH_DATA_DIR: dir, ZK_CONNECT: '' }, { logger });
  });

  afterEach(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a dropped cm/notify message once, with its reason and its first 200 bytes, and no JSON', async () => {
    const payload = Buffer.from(`{"o":"c","t":"Thing","k":${'['.repeat(1000)}`);

    describeNotify(await handleNotifyBatch(app, [{ id: 'mqtt-1', payload }], noMetrics()), out);

    expect(lines()).toHaveLength(1);
    const [line] = lines();
    expect(line).toMatch(/^12:00:00 {2}warn {8}cm\/notify message dropped: payload is not JSON: /);
    expect(line).toContain(
      `— payload ${payload.subarray(0, LOGGED_PAYLOAD_BYTES).toString()}…(${payload.length} bytes)`,
    );
  });

  it('prints a warning no narration covers once, as a console line with its fields', async () => {
    await app.orchestrator.orchestrate('Thing', { initInstances: 3, maxInstances: 3, resourcePerInstance: 1 }, 'test');

    describeNotify(
      await handleNotifyBatch(
        app,
        ['a', 'b', 'c', 'd'].map((id) => ({ id, payload: JSON.stringify({ o: 'c', t: 'Thing', k: { id } }) })),
        noMetrics(),
      ),
      out,
    );

    expect(lines().filter((line) => line.startsWith('{'))).toEqual([]);
    // The orchestration's own warning (no handler narrates it), then the narrated batch; the capacity alert the
    // batch raised is told by that batch's line ("pending"), not a second time.
    expect(lines()).toEqual([
      expect.stringMatching(/^12:00:00 {2}warn {8}Thing is at its maximum of 3 instances: resources kept pending {2}/),
      expect.stringMatching(/^12:00:00 {2}assign {6}Thing {2}assigned .*; 1 id pending: the kind is at its maximum$/),
    ]);
    expect(lines()[0]).toContain('resource=Thing');
  });

  it('still prints a handler warning its result does not report, and leaves out the one it does', () => {
    const reconcileLog = createLogger({
      level: 'warn',
      bindings: { component: 'app', handler: 'reconcile' },
      destination: out.logDestination,
    });

    reconcileLog.warn({ resource: 'Thing' }, 'pod usage could not be read: scaling holds');
    reconcileLog.warn({ resource: 'Thing', instanceId: '0', reported: true }, 'not recycled: outage guard');

    expect(lines()).toEqual([
      expect.stringMatching(/^12:00:00 {2}warn {8}pod usage could not be read: scaling holds {2}resource=Thing$/),
    ]);
  });
});
