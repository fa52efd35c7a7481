import { describe, expect, it } from 'vitest';
import { LocalConfigError } from '../../../lib/local/config.js';
import { localWorkerRequestsFromEnv, processRuntimeOptionsFromEnv } from '../../../lib/local/process-runtime-config.js';

describe('requests of the local workers', () => {
  it("defaults to the iota-dac template's requests, 250 millicores and 256 MiB", () => {
    expect(localWorkerRequestsFromEnv({})).toEqual({ cpuMillis: 250, memoryBytes: 256 * 2 ** 20 });
  });

  it('reads LOCAL_WORKER_CPU_REQUEST_MILLIS and LOCAL_WORKER_MEMORY_REQUEST_MB (mebibytes), 0 meaning no request', () => {
    expect(
      localWorkerRequestsFromEnv({ LOCAL_WORKER_CPU_REQUEST_MILLIS: '100', LOCAL_WORKER_MEMORY_REQUEST_MB: '0.5' }),
    ).toEqual({
      cpuMillis: 100,
      memoryBytes: 512 * 1024,
    });
    expect(localWorkerRequestsFromEnv({ LOCAL_WORKER_CPU_REQUEST_MILLIS: '0' }).cpuMillis).toBe(0);
  });

  it.each([
    ['LOCAL_WORKER_CPU_REQUEST_MILLIS', '-1'],
    ['LOCAL_WORKER_CPU_REQUEST_MILLIS', '250m'],
    ['LOCAL_WORKER_MEMORY_REQUEST_MB', '128Mi'],
  ])('rejects %s=%s, naming the variable', (name, value) => {
    const error = (() => {
      try {
        localWorkerRequestsFromEnv({ [name]: value });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(LocalConfigError);
    expect(error).toMatchObject({ variable: name });
  });

  it('gives them to the process runtime, and passes WORKER_CPU_MS_PER_RESOURCE on to the workers', () => {
    const options = processRuntimeOptionsFromEnv({
      ORCH_DATA_DIR: 'orch-data',
      LOCAL_WORKER_CPU_REQUEST_MILLIS: '500',
      WORKER_CPU_MS_PER_RESOURCE: '2',
    });

    expect(options.requests).toEqual({ cpuMillis: 500, memoryBytes: 256 * 2 ** 20 });
    expect(options.env).toMatchObject({ WORKER_CPU_MS_PER_RESOURCE: '2' });
  });
});
