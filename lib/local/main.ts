/**
 * `npm start`: the whole system on one machine with embedded defaults.
 * See `npm start -- --help` and docs/local.md.
 *
 * Only configuration and the console are imported statically: LOG_LEVEL must
 * be settled before lib/log.ts creates the process's logger.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KindConfig } from '../config/kinds.js';
import { resolveScaling } from '../config/scaling.js';
import { helpText, LocalConfigError, localConfigFromEnv, parseArgs, UsageError, type LocalConfig } from './config.js';
import { createConsole, type LocalConsole } from './console.js';
import type { LocalSystem } from './system.js';

function fail(message: string, code: number): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(code);
}

/** Last resort of a forced exit: SIGKILL every worker process group named in the runtime's state files. */
function killWorkersNow(dataDir: string): number {
  const podsDir = join(dataDir, 'instances', 'pods');
  let killed = 0;
  let files: string[] = [];
  try {
    files = readdirSync(podsDir).filter((file) => file.endsWith('.json'));
  } catch {
    return 0;
  }
  for (const file of files) {
    try {
      const { pid } = JSON.parse(readFileSync(join(podsDir, file), 'utf8')) as { pid?: unknown };
      if (typeof pid === 'number' && pid > 1) {
        process.kill(-pid, 'SIGKILL');
        killed++;
      }
    } catch {
      // Already gone, or not a state file.
    }
  }
  return killed;
}

const seconds = (ms: number): string => `${+(ms / 1000).toFixed(1)} s`;

/** ", autoscaling 1–4 on cpu 20%" for a kind that scales, else nothing. */
function scalingNote(kind: KindConfig): string {
  const scaling = resolveScaling(kind.scaling);
  if (!scaling.enabled) return '';
  const targets = [
    scaling.targetCpuUtilization !== undefined ? `cpu ${scaling.targetCpuUtilization}%` : '',
    scaling.targetMemoryUtilization !== undefined ? `memory ${scaling.targetMemoryUtilization}%` : '',
  ].filter(Boolean);
  return `, autoscaling ${scaling.minInstances}–${scaling.maxInstances} on ${targets.join(' / ')}`;
}

async function banner(system: LocalSystem, config: LocalConfig, out: LocalConsole): Promise<void> {
  const { app } = system;
  const counts = await Promise.all(
    app.kinds.map(async (kind) => [kind.resource, (await app.orchestrator.read(kind.resource)).length] as const),
  );
  const existing = counts.filter(([, n]) => n > 0);
  const kinds = app.kinds
    .map(
      (kind) =>
        `${kind.resource} → ${kind.instanceName} (${kind.heartbeat ? 'heartbeats' : 'no heartbeats'}, initInstances ${kind.initInstances}${scalingNote(kind)})`,
    )
    .join('; ');
  const base = system.urls.dashboard.replace(/\/$/, '');
  out.banner(
    [
      ['Dashboard', system.urls.dashboard],
      ['API', `${base}/v1/api/orchestrations/{${app.kinds.map((kind) => kind.resource).join('|')}}`],
      [
        'MQTT',
        `${system.urls.mqtt} ${system.mqttEmbedded ? '(embedded broker)' : '(external broker)'} — cm/notify${config.kafka ? '' : ', HeartBeat'}`,
      ],
      [
        'Heartbeats',
        config.kafka
          ? `Kafka ${config.kafka.brokers.join(',')} topic HeartBeat, group ${config.kafka.groupId}`
          : 'MQTT topic HeartBeat',
      ],
      ['Store', app.store.description],
      ['Runtime', system.runtime.description],
      ['Kinds', kinds],
      [
        'Timing',
        `reconcile every ${seconds(config.reconcileIntervalMs)}, heartbeat timeout ${seconds(app.settings.heartbeatTimeoutMs)}, ` +
          `start-up grace ${seconds(app.settings.startupGraceMs)}, worker heartbeat every ${config.env.HEARTBEAT_INTERVAL} s`,
      ],
      [
        'Instances',
        existing.length > 0
          ? `${existing.map(([resource, n]) => `${resource} ${n}`).join(', ')} in the store; their workers start now`
          : 'none yet: the first assigned resource creates one; Orchestrate creates initInstances',
      ],
    ],
    [
      `Try: npx mqtt pub -h ${new URL(system.urls.mqtt).hostname} -p ${new URL(system.urls.mqtt).port || 1883} -q 1 -t cm/notify -m '{"o":"c","t":"Thing","k":{"id":"thing-1"}}'`,
      `     curl -s ${base}/v1/api/orchestrations/Thing/thing-1/instances`,
      'Walkthrough: docs/local.md · all settings: npm start -- --help · Ctrl-C to stop',
    ],
  );
}

async function main(): Promise<void> {
  let config: LocalConfig;
  try {
    if (parseArgs(process.argv.slice(2)).help) {
      process.stdout.write(helpText());
      return;
    }
    config = localConfigFromEnv(process.env, process.stdout.isTTY === true);
  } catch (error) {
    if (error instanceof LocalConfigError || error instanceof UsageError) fail(error.message, 2);
    throw error;
  }

  // The console lines tell the story; the components' own logs only speak up for problems unless LOG_LEVEL asks for more.
  const explicitLevel = Boolean(process.env.LOG_LEVEL);
  if (config.logFormat === 'pretty' && !explicitLevel) process.env.LOG_LEVEL = 'warn';
  const { createLogger } = await import('../log.js');
  const { startLocalSystem } = await import('./system.js');
  const out = createConsole({
    format: config.logFormat,
    logger: createLogger({ bindings: { component: 'local' } }),
    color: process.stdout.isTTY === true && !process.env.NO_COLOR,
  });

  let starting: Promise<LocalSystem | undefined> = Promise.resolve(undefined);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      const killed = killWorkersNow(config.dataDir);
      out.event('warn', `forced exit (${signal}); killed ${killed} worker process group${killed === 1 ? '' : 's'}`);
      process.exit(130);
    }
    stopping = true;
    const draining = config.mqtt.embedded
      ? `stopping the broker, applying what it acknowledged (at most ${seconds(config.inboxDrainMs)}), ` +
        'then workers and store…'
      : 'stopping workers and store…';
    out.event('info', `${signal}: ${draining} (Ctrl-C again to force)`);
    // A signal during start-up stops what has started once start-up is done.
    void starting
      .then((system) => system?.stop())
      .then(
        () => {
          out.event('info', 'stopped; nothing left running');
          process.exit(0);
        },
        (error: unknown) => {
          out.event('error', `shutdown failed: ${(error as Error).message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('unhandledRejection', (reason) =>
    out.event('error', `unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`),
  );

  starting = startLocalSystem(config, out, { componentLogLevel: explicitLevel ? undefined : 'warn' }).catch(
    (error: unknown) => fail(`cannot start: ${(error as Error).message}`, 1),
  );
  const system = await starting;
  if (system && !stopping) await banner(system, config, out);
}

await main();
