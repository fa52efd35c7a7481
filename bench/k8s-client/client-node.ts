/**
 * Bench entry: the same listing with @kubernetes/client-node 1.4 (`CoreV1Api.listNamespacedPod`),
 * the same EKS token code, and the same pod templates (a real adapter needs them to create pods).
 */
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { KindConfig } from '../../lib/config/kinds.js';
import { EksAuth } from '../../lib/instances/eks-auth.js';
import { podTemplateLoader, renderPod } from '../../lib/instances/pod-template.js';
import type { ListTarget } from './own-client.js';

export type { ListTarget };

function api(target: ListTarget, token: string): CoreV1Api {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [
      {
        name: 'target',
        server: target.server,
        // client-node refuses plain http (the bench simulator) unless this is set; it has no effect there.
        skipTLSVerify: target.server.startsWith('http:'),
        ...(target.caPem ? { caData: Buffer.from(target.caPem).toString('base64') } : {}),
      },
    ],
    users: [{ name: 'orchestrator', token }],
    contexts: [{ name: 'target', cluster: 'target', user: 'orchestrator' }],
    currentContext: 'target',
  });
  return config.makeApiClient(CoreV1Api);
}

const tokenFor = async (target: ListTarget): Promise<string> =>
  target.eksClusterName
    ? new EksAuth({ clusterName: target.eksClusterName, region: 'eu-west-1' }).token()
    : target.token;

export async function listPods(target: ListTarget, kind: KindConfig): Promise<string[]> {
  const list = await api(target, await tokenFor(target)).listNamespacedPod({
    namespace: 'iota',
    labelSelector: `resource=${kind.resource},instanceId`,
  });
  return list.items.map((pod) => pod.metadata?.name ?? '');
}

/** Not run by the bench: keeps template rendering in the bundle, as in the real adapter. */
export async function createPod(target: ListTarget, kind: KindConfig, instanceId: string, name: string): Promise<void> {
  const pod = renderPod(await podTemplateLoader(target.templatesDir)(kind), { kind, instanceId, name });
  await api(target, await tokenFor(target)).createNamespacedPod({ namespace: 'iota', body: pod as V1Pod });
}
