/** The Kubernetes adapter pointed at the API simulator; free of vitest, so a child process can use it too. */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { KubernetesRuntime } from '../../../lib/instances/kubernetes.js';
import { podTemplateLoader } from '../../../lib/instances/pod-template.js';

export const TEMPLATES_DIR = fileURLToPath(new URL('../../../infra/templates', import.meta.url));

export const silentLogger = pino({ level: 'silent' });

/** The packaged pod templates, plain http (the simulator), the simulator's token. */
export function kubernetesRuntimeFor(url: string, token: string): KubernetesRuntime {
  return new KubernetesRuntime({
    connection: async () => ({ server: url, caPem: undefined, token }),
    templates: podTemplateLoader(TEMPLATES_DIR),
    allowInsecureHttp: true,
    description: 'kubernetes simulator',
  });
}
