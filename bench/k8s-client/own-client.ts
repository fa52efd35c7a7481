/**
 * Bench entry: list a kind's pods with the orchestrator's own client (node:https, typed),
 * authenticated like production (EKS token when a cluster name is given).
 */
import type { KindConfig } from '../../lib/config/kinds.js';
import { EksAuth } from '../../lib/instances/eks-auth.js';
import { KubernetesRuntime, type KubernetesConnection } from '../../lib/instances/kubernetes.js';
import { podTemplateLoader } from '../../lib/instances/pod-template.js';

export interface ListTarget {
  readonly server: string;
  readonly token: string;
  readonly caPem?: string;
  readonly eksClusterName?: string;
  readonly templatesDir: string;
}

export async function listPods(target: ListTarget, kind: KindConfig): Promise<string[]> {
  const eks = target.eksClusterName
    ? new EksAuth({ clusterName: target.eksClusterName, region: 'eu-west-1' })
    : undefined;
  const connection = async (): Promise<KubernetesConnection> => ({
    server: target.server,
    caPem: target.caPem,
    token: eks ? await eks.token() : target.token,
  });
  const runtime = new KubernetesRuntime({
    connection,
    templates: podTemplateLoader(target.templatesDir),
    allowInsecureHttp: target.server.startsWith('http:'),
  });
  try {
    return (await runtime.list(kind)).map((pod) => pod.name);
  } finally {
    await runtime.close();
  }
}
