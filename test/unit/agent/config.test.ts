import { describe, expect, it } from 'vitest';
import { WorkerConfigError, workerSettingsFromEnv } from '../../../lib/agent/config.js';

const base = { INSTANCE_ID: '3', RESOURCE: 'Thing', POD_NAME: 'iota-dac-3-g2' };

const errorOf = (env: NodeJS.ProcessEnv): WorkerConfigError => {
  try {
    workerSettingsFromEnv(env);
  } catch (error) {
    if (error instanceof WorkerConfigError) return error;
    throw error;
  }
  throw new Error('expected a WorkerConfigError');
};

describe('worker settings from the environment', () => {
  it('uses the local defaults: MQTT on 127.0.0.1:1883, topic HeartBeat, every 3 s, legacy root', () => {
    const settings = workerSettingsFromEnv(base);

    expect(settings).toEqual({
      instanceId: '3',
      resource: 'Thing',
      podName: 'iota-dac-3-g2',
      heartbeatIntervalMs: 3000,
      heartbeat: { transport: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'HeartBeat' },
      root: '/iota/orchestration',
      cpuMsPerResource: 0,
    });
  });

  it('reads WORKER_CPU_MS_PER_RESOURCE, CPU milliseconds per served resource per second, fractions too', () => {
    expect(workerSettingsFromEnv({ ...base, WORKER_CPU_MS_PER_RESOURCE: '20' }).cpuMsPerResource).toBe(20);
    expect(workerSettingsFromEnv({ ...base, WORKER_CPU_MS_PER_RESOURCE: '0.5' }).cpuMsPerResource).toBe(0.5);
    expect(workerSettingsFromEnv({ ...base, WORKER_CPU_MS_PER_RESOURCE: '' }).cpuMsPerResource).toBe(0);
  });

  it('sends heartbeats to Kafka when KAFKA_BROKERS is set', () => {
    const settings = workerSettingsFromEnv({
      ...base,
      KAFKA_BROKERS: 'k1:9092, k2:9092',
      MQTT_URL: 'mqtt://ignored:1883',
    });

    expect(settings.heartbeat).toEqual({
      transport: 'kafka',
      brokers: ['k1:9092', 'k2:9092'],
      topic: 'HeartBeat',
      clientId: 'iota-dac-3-g2',
    });
  });

  it('takes the resource kind from IOTA_RESOURCE, as the pod templates set it', () => {
    expect(workerSettingsFromEnv({ INSTANCE_ID: '0', IOTA_RESOURCE: 'Rule' }).resource).toBe('Rule');
  });

  it('accepts HEARTBEAT_INTERVAL=0 as "no heartbeats" and fractions of a second', () => {
    expect(workerSettingsFromEnv({ ...base, HEARTBEAT_INTERVAL: '0' }).heartbeatIntervalMs).toBe(0);
    expect(workerSettingsFromEnv({ ...base, HEARTBEAT_INTERVAL: '0.5' }).heartbeatIntervalMs).toBe(500);
  });

  it('names the missing or malformed variable', () => {
    expect(errorOf({ RESOURCE: 'Thing' }).field).toBe('INSTANCE_ID');
    expect(errorOf({ ...base, INSTANCE_ID: 'zero' }).message).toMatch(/^INSTANCE_ID: .*"zero"/);
    expect(errorOf({ INSTANCE_ID: '0' }).message).toMatch(/^RESOURCE: is required \(or IOTA_RESOURCE\)/);
    expect(errorOf({ ...base, RESOURCE: 'no spaces' }).field).toBe('RESOURCE');
    expect(errorOf({ ...base, HEARTBEAT_INTERVAL: '-1' }).field).toBe('HEARTBEAT_INTERVAL');
    expect(errorOf({ ...base, MQTT_URL: 'localhost:1883' }).field).toBe('MQTT_URL');
    expect(errorOf({ ...base, KAFKA_BROKERS: 'kafka' }).field).toBe('KAFKA_BROKERS');
    expect(errorOf({ ...base, ZK_ROOT: 'relative/root' }).field).toBe('ZK_ROOT');
    expect(errorOf({ ...base, WORKER_CPU_MS_PER_RESOURCE: '-1' }).field).toBe('WORKER_CPU_MS_PER_RESOURCE');
    expect(errorOf({ ...base, WORKER_CPU_MS_PER_RESOURCE: 'lots' }).field).toBe('WORKER_CPU_MS_PER_RESOURCE');
    expect(errorOf({ ...base, WORKER_CPU_MS_PER_RESOURCE: '1001' }).message).toMatch(
      /^WORKER_CPU_MS_PER_RESOURCE: must be .* in \[0, 1000\]/,
    );
  });
});
