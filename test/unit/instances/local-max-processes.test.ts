import { describe, expect, it } from 'vitest';
import { LocalConfigError } from '../../../lib/local/config.js';
import { localMaxProcessesFromEnv, processRuntimeOptionsFromEnv } from '../../../lib/local/process-runtime-config.js';

describe('LOCAL_MAX_PROCESSES', () => {
  it('defaults to 16 workers, every kind together, and reaches the runtime options', () => {
    expect(localMaxProcessesFromEnv({})).toBe(16);
    expect(processRuntimeOptionsFromEnv({ ORCH_DATA_DIR: 'data', LOCAL_MAX_PROCESSES: '4' }).maxProcesses).toBe(4);
  });

  it.each(['0', '-2', '2.5', 'many'])('rejects LOCAL_MAX_PROCESSES=%s, naming the variable', (value) => {
    expect(() => localMaxProcessesFromEnv({ LOCAL_MAX_PROCESSES: value })).toThrow(LocalConfigError);
    expect(() => localMaxProcessesFromEnv({ LOCAL_MAX_PROCESSES: value })).toThrow(/LOCAL_MAX_PROCESSES/);
  });
});
