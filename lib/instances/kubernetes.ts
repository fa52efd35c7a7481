/**
 * InstanceRuntime on a Kubernetes API server: core v1 pods and metrics.k8s.io pod metrics,
 * in one namespace, through a small typed client over `node:https`.
 *
 * Why not fetch: custom CAs with Node's fetch need an undici `Agent` as dispatcher, and undici
 * is not a direct dependency (Node's bundled copy is not importable). `node:https` takes the CA
 * directly and verifies the server certificate; verification is never turned off.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import * as z from '../zod.js';
import type { KindConfig } from '../config/kinds.js';
import { EksAuth, envCredentials } from './eks-auth.js';
import { DEFAULT_NAMESPACE, type PodTemplateSource, podTemplatesFromEnv, renderPod } from './pod-template.js';
import { PodMetricsListSchema, PodRequestsSchema, usageOfPods } from './kubernetes-usage.js';
import {
  InstanceRuntimeError,
  type InstanceRuntime,
  type PodInfo,
  type PodPhase,
  type PodSpec,
  type PodUsage,
} from './port.js';

export interface KubernetesConnection {
  /** API server base URL, `https://host[:port][/prefix]`. */
  readonly server: string;
  /** PEM bundle trusted for the server certificate; the system roots when undefined. */
  readonly caPem: string | undefined;
  readonly token: string;
}
/** Called before each request: lets EKS tokens refresh; static setups return a constant. */
export type ConnectionProvider = () => Promise<KubernetesConnection>;

export interface KubernetesRuntimeOptions {
  readonly connection: ConnectionProvider;
  readonly templates: PodTemplateSource;
  /** Default `iota`. */
  readonly namespace?: string;
  /** Accept an `http://` server. For tests against the simulator only. */
  readonly allowInsecureHttp?: boolean;
  /** Per request; default 10 s. */
  readonly requestTimeoutMs?: number;
  readonly description?: string;
}

// ---------------------------------------------------------------------------------------------
// Wire shapes: only the fields read, everything else passes.

const StatusSchema = z.looseObject({
  kind: z.literal('Status'),
  message: z.optional(z.string()),
  reason: z.optional(z.string()),
  code: z.optional(z.number()),
});

const ObjectMetaSchema = z.looseObject({
  name: z.string(),
  labels: z.optional(z.record(z.string(), z.string())),
  creationTimestamp: z.optional(z.string()),
  deletionTimestamp: z.nullish(z.string()),
});

const PodListSchema = z.looseObject({
  items: z.array(
    z.looseObject({
      metadata: ObjectMetaSchema,
      spec: z.optional(PodRequestsSchema),
      status: z.optional(z.looseObject({ phase: z.optional(z.string()), startTime: z.optional(z.string()) })),
    }),
  ),
});
type PodItem = z.infer<typeof PodListSchema>['items'][number];

const PHASES: ReadonlySet<string> = new Set<PodPhase>(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

const epochMs = (timestamp: string | undefined): number | undefined => {
  const ms = timestamp ? Date.parse(timestamp) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
};

// ---------------------------------------------------------------------------------------------

interface Response {
  readonly status: number;
  readonly body: unknown;
}

export class KubernetesRuntime implements InstanceRuntime {
  readonly description: string;
  readonly namespace: string;
  private readonly connection: ConnectionProvider;
  private readonly templates: PodTemplateSource;
  private readonly allowInsecureHttp: boolean;
  private readonly timeoutMs: number;
  private agent: { key: string; agent: HttpsAgent | HttpAgent } | undefined;

  constructor(options: KubernetesRuntimeOptions) {
    this.connection = options.connection;
    this.templates = options.templates;
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    this.allowInsecureHttp = options.allowInsecureHttp ?? false;
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.description = options.description ?? `kubernetes namespace ${this.namespace}`;
  }

  async create(spec: PodSpec): Promise<'created' | 'exists'> {
    const pod = renderPod(await this.templates(spec.kind), spec, this.namespace);
    const what = `create pod ${spec.name}`;
    const response = await this.request(what, 'POST', this.podsPath(), pod);
    if (response.status >= 200 && response.status < 300) return 'created';
    if (response.status === 409 && statusOf(response.body)?.reason === 'AlreadyExists') return 'exists';
    throw failure(what, response);
  }

  /** Deletes with the pod's own grace period: forcing 0 is what left legacy unable to re-create names. */
  async delete(_kind: KindConfig, name: string): Promise<'deleted' | 'absent'> {
    const what = `delete pod ${name}`;
    const response = await this.request(what, 'DELETE', `${this.podsPath()}/${encodeURIComponent(name)}`);
    if (response.status === 200 || response.status === 202) return 'deleted';
    if (response.status === 404) return 'absent';
    throw failure(what, response);
  }

  async list(kind: KindConfig): Promise<PodInfo[]> {
    const pods: PodInfo[] = [];
    for (const item of await this.listItems(kind)) {
      const instanceId = item.metadata.labels?.instanceId;
      if (instanceId === undefined) continue;
      const phase = item.status?.phase ?? 'Pending';
      pods.push({
        name: item.metadata.name,
        resource: kind.resource,
        instanceId,
        phase: PHASES.has(phase) ? (phase as PodPhase) : 'Unknown',
        startedAt: epochMs(item.status?.startTime) ?? epochMs(item.metadata.creationTimestamp),
        terminating: Boolean(item.metadata.deletionTimestamp),
      });
    }
    return pods;
  }

  /** One PodMetricsList and one pod list (requests, phase) for the kind, joined by `usageOfPods`. */
  async usage(kind: KindConfig): Promise<PodUsage[]> {
    const what = `pod metrics of ${kind.resource}`;
    const path = `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(this.namespace)}/pods?${selector(kind)}`;
    const response = await this.request(what, 'GET', path);
    // 404: the metrics API is not registered; 503: registered but metrics-server is down.
    if (response.status === 404 || response.status === 503) return [];
    if (response.status !== 200) throw failure(what, response);
    const parsed = PodMetricsListSchema.safeParse(response.body);
    if (!parsed.success) throw unexpected(what, response, parsed.error);
    if (parsed.data.items.length === 0) return [];
    const pods = await this.listItems(kind);
    try {
      return usageOfPods(parsed.data, pods);
    } catch (error) {
      throw new InstanceRuntimeError(`${what}: ${(error as Error).message}`, response.status, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.agent?.agent.destroy();
    this.agent = undefined;
  }

  /** The kind's pods as listed, one LIST call. */
  private async listItems(kind: KindConfig): Promise<PodItem[]> {
    const what = `list pods of ${kind.resource}`;
    const response = await this.request(what, 'GET', `${this.podsPath()}?${selector(kind)}`);
    if (response.status !== 200) throw failure(what, response);
    const parsed = PodListSchema.safeParse(response.body);
    if (!parsed.success) throw unexpected(what, response, parsed.error);
    return parsed.data.items;
  }

  private podsPath(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`;
  }

  private async request(what: string, method: string, path: string, body?: unknown): Promise<Response> {
    let connection: KubernetesConnection;
    try {
      connection = await this.connection();
    } catch (error) {
      throw new InstanceRuntimeError(
        `${what}: cannot get cluster credentials: ${(error as Error).message}`,
        undefined,
        {
          cause: error,
        },
      );
    }
    const url = new URL(connection.server.replace(/\/+$/, '') + path);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.allowInsecureHttp)) {
      throw new InstanceRuntimeError(
        `${what}: the API server URL must be https, got ${url.protocol}//${url.host}`,
        undefined,
      );
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${connection.token}` };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const options = { method, headers, agent: this.agentFor(url.protocol, connection.caPem) };
    return new Promise<Response>((resolve, reject) => {
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => reject(networkError(what, error)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Non-JSON (a proxy's HTML error page): kept as text for the error message.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      };
      const req =
        url.protocol === 'https:' ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no response within ${this.timeoutMs} ms`)));
      req.on('error', (error) => reject(networkError(what, error)));
      req.end(payload);
    });
  }

  /** One keep-alive agent per CA; the CA is part of the agent so every TLS connection verifies against it. */
  private agentFor(protocol: string, caPem: string | undefined): HttpsAgent | HttpAgent {
    const key = `${protocol}${caPem ?? ''}`;
    if (this.agent?.key !== key) {
      this.agent?.agent.destroy();
      const agent =
        protocol === 'https:'
          ? new HttpsAgent({ keepAlive: true, maxSockets: 8, ...(caPem ? { ca: caPem } : {}) })
          : new HttpAgent({ keepAlive: true, maxSockets: 8 });
      this.agent = { key, agent };
    }
    return this.agent.agent;
  }
}

/** Selects the kind's pods that carry an instance id: one LIST per kind. */
const selector = (kind: KindConfig): string =>
  new URLSearchParams({ labelSelector: `resource=${kind.resource},instanceId` }).toString();

const statusOf = (body: unknown): z.infer<typeof StatusSchema> | undefined => {
  const parsed = StatusSchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
};

function failure(what: string, response: Response): InstanceRuntimeError {
  const status = statusOf(response.body);
  const detail = status
    ? `${status.reason ?? 'Failure'}: ${status.message ?? ''}`
    : typeof response.body === 'string'
      ? response.body.slice(0, 200)
      : '';
  return new InstanceRuntimeError(`${what}: HTTP ${response.status} ${detail}`.trim(), response.status);
}

const unexpected = (what: string, response: Response, error: z.core.$ZodError): InstanceRuntimeError =>
  new InstanceRuntimeError(
    `${what}: unexpected response: ${error.issues[0]?.path.join('.') ?? ''} ${error.issues[0]?.message ?? ''}`,
    response.status,
    { cause: error },
  );

const networkError = (what: string, error: Error): InstanceRuntimeError =>
  new InstanceRuntimeError(`${what}: ${error.message}`, undefined, { cause: error });

// ---------------------------------------------------------------------------------------------

export interface KubernetesFromEnvOptions {
  /** Overrides the templates of `podTemplatesFromEnv` (ORCH_TEMPLATES_DIR, compiled, or the repository's). */
  readonly templates?: PodTemplateSource;
  /** For EKS: overrides the credentials of the environment and the DescribeCluster call (tests). */
  readonly eks?: Pick<ConstructorParameters<typeof EksAuth>[0], 'credentials' | 'describeCluster' | 'now'>;
}

/**
 * (a) `K8S_SERVER` + `K8S_TOKEN` + `K8S_CA_FILE` | `K8S_CA_DATA`, or
 * (b) `EKS_CLUSTER_NAME` (+ `AWS_REGION` and the credentials `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 *     `AWS_SESSION_TOKEN` a Lambda has; `AWS_ENDPOINT_URL_EKS` optional): endpoint, CA and tokens from AWS.
 * `K8S_NAMESPACE` (default iota), `ORCH_TEMPLATES_DIR` in both.
 */
export function kubernetesRuntimeFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: KubernetesFromEnvOptions = {},
): KubernetesRuntime {
  const namespace = env.K8S_NAMESPACE || DEFAULT_NAMESPACE;
  const templates = options.templates ?? podTemplatesFromEnv(env);

  const clusterName = env.EKS_CLUSTER_NAME;
  if (clusterName) {
    const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
    if (!region) throw new Error('AWS_REGION is not set (needed with EKS_CLUSTER_NAME to reach EKS and STS)');
    const endpoint = env.AWS_ENDPOINT_URL_EKS?.trim();
    const { eks = {} } = options;
    const auth = new EksAuth({
      clusterName,
      region,
      ...(endpoint ? { endpoint } : {}),
      ...eks,
      // Checked here, so a process without credentials stops at start.
      credentials: eks.credentials ?? envCredentials(env),
    });
    return new KubernetesRuntime({
      namespace,
      templates,
      description: `kubernetes EKS cluster ${clusterName} namespace ${namespace}`,
      connection: async () => {
        const [cluster, token] = await Promise.all([auth.cluster(), auth.token()]);
        return { server: cluster.server, caPem: cluster.caPem, token };
      },
    });
  }

  const server = env.K8S_SERVER;
  if (!server) throw new Error('K8S_SERVER is not set (or set EKS_CLUSTER_NAME to use an EKS cluster)');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`K8S_SERVER is not a URL: ${JSON.stringify(server)}`);
  }
  if (url.protocol !== 'https:') throw new Error(`K8S_SERVER must be an https URL, got ${JSON.stringify(server)}`);
  const token = env.K8S_TOKEN;
  if (!token) throw new Error('K8S_TOKEN is not set (the bearer token for K8S_SERVER)');
  const caPem = caFromEnv(env);
  const connection: KubernetesConnection = { server, caPem, token };
  return new KubernetesRuntime({
    namespace,
    templates,
    description: `kubernetes ${url.host} namespace ${namespace}`,
    connection: async () => connection,
  });
}

/** `K8S_CA_FILE` (a PEM file) or `K8S_CA_DATA` (PEM, or base64 of PEM as in kubeconfig's certificate-authority-data). */
function caFromEnv(env: NodeJS.ProcessEnv): string {
  if (env.K8S_CA_FILE) {
    try {
      return readFileSync(env.K8S_CA_FILE, 'utf8');
    } catch (error) {
      throw new Error(`K8S_CA_FILE cannot be read: ${(error as Error).message}`);
    }
  }
  const data = env.K8S_CA_DATA;
  if (!data) throw new Error('K8S_CA_FILE or K8S_CA_DATA is not set (the CA that signed the API server certificate)');
  const pem = data.includes('-----BEGIN') ? data : Buffer.from(data, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error('K8S_CA_DATA is neither PEM nor base64-encoded PEM');
  return pem;
}
