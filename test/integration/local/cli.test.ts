/**
 * npm start's command line and environment: --help documents every variable,
 * unknown flags and bad values are refused with a message naming them, and
 * the local defaults apply only where the user set nothing.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { helpText, LocalConfigError, localConfigFromEnv, parseArgs, UsageError } from '../../../lib/local/config.js';
import { ENV_VARIABLES } from '../../../lib/local/env-variables.js';
import { REPO_ROOT } from './harness.js';

const runMain = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'lib/local/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });

describe('npm start command line', () => {
  it('prints help naming every environment variable with its default, and exits 0', () => {
    const result = runMain(['--help']);

    expect(result.status).toBe(0);
    for (const variable of ENV_VARIABLES) expect(result.stdout).toContain(variable.name);
    expect(result.stdout).toMatch(/HEARTBEAT_TIMEOUT_SECONDS .*\[15\]/);
    expect(result.stdout).toMatch(/PORT .*\[9281\]/);
    expect(result.stdout).toMatch(/initInstances/);
  });

  it('refuses an unknown flag with exit code 2 and says what it accepts', () => {
    const result = runMain(['--port=1']);

    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/unknown flag "--port=1"/);
    expect(result.stderr).toMatch(/--help/);
  });

  it('refuses a malformed variable with exit code 2, naming it', () => {
    const result = runMain([], { PORT: 'eighty' });

    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/PORT: must be a port number/);
  });
});

describe('local configuration', () => {
  it('fills in the fast local defaults when nothing is set', () => {
    const config = localConfigFromEnv({}, false);

    expect(config.env.HEARTBEAT_TIMEOUT_SECONDS).toBe('15');
    expect(config.env.STARTUP_GRACE_SECONDS).toBe('10');
    expect(config.env.HEARTBEAT_INTERVAL).toBe('3');
    expect(config.httpPort).toBe(9281);
    expect(config.mqtt).toEqual({ embedded: true, port: 1883 });
    expect(config.reconcileIntervalMs).toBe(10_000);
    expect(config.kafka).toBeUndefined();
    expect(config.logFormat).toBe('json');
  });

  it("keeps the user's own values, e.g. the legacy 90 s timeout", () => {
    const config = localConfigFromEnv(
      { HEARTBEAT_TIMEOUT_SECONDS: '90', RECONCILE_INTERVAL: '2.5', LOG_FORMAT: 'pretty' },
      false,
    );

    expect(config.env.HEARTBEAT_TIMEOUT_SECONDS).toBe('90');
    expect(config.reconcileIntervalMs).toBe(2500);
    expect(config.logFormat).toBe('pretty');
  });

  it('uses an external broker and embeds none when MQTT_URL is set', () => {
    expect(localConfigFromEnv({ MQTT_URL: 'mqtt://broker:1883' }, true).mqtt).toEqual({
      embedded: false,
      url: 'mqtt://broker:1883',
    });
  });

  it('reads heartbeats from Kafka with one consumer group when KAFKA_BROKERS is set', () => {
    expect(localConfigFromEnv({ KAFKA_BROKERS: 'k1:9092,k2:9092' }, true).kafka).toEqual({
      brokers: ['k1:9092', 'k2:9092'],
      groupId: 'iota-orchestrator',
    });
  });

  it('names the variable of every malformed value', () => {
    const variableOf = (env: NodeJS.ProcessEnv): string => {
      try {
        localConfigFromEnv(env, false);
      } catch (error) {
        if (error instanceof LocalConfigError) return error.variable;
      }
      return 'none';
    };
    expect(variableOf({ MQTT_PORT: '70000' })).toBe('MQTT_PORT');
    expect(variableOf({ RECONCILE_INTERVAL: '0' })).toBe('RECONCILE_INTERVAL');
    expect(variableOf({ LOG_FORMAT: 'xml' })).toBe('LOG_FORMAT');
    expect(variableOf({ MQTT_URL: 'broker:1883' })).toBe('MQTT_URL');
    expect(variableOf({ KAFKA_BROKERS: 'k1' })).toBe('KAFKA_BROKERS');
  });

  it('takes --help and -h, and nothing else', () => {
    expect(parseArgs([])).toEqual({ help: false });
    expect(parseArgs(['-h'])).toEqual({ help: true });
    expect(() => parseArgs(['start'])).toThrow(UsageError);
    expect(helpText()).toContain('Ctrl-C');
  });
});
