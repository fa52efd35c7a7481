/**
 * A small Kubernetes API server for tests and benchmarks: core v1 pods and
 * metrics.k8s.io/v1beta1 pod metrics, with the documented semantics our runtime relies on:
 * - create returns 201 with uid, creationTimestamp and phase Pending; a taken name is
 *   409 AlreadyExists, also while the old pod is terminating;
 * - graceful deletion (pkg/registry/core/pod/strategy.go CheckGracefulDelete): the grace
 *   period comes from the request, else the pod's terminationGracePeriodSeconds (defaulted
 *   to 30 on create); a pod in phase Failed/Succeeded is deleted at once. A deleting pod
 *   gets deletionTimestamp = now + grace and stays listed until then; deleting it again is
 *   200 and may only shorten the grace period;
 * - equality and existence label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`);
 * - Status objects for every error, 401 without the bearer token;
 * - pod metrics as metrics-server serves them: Running pods only (a terminating pod that still
 *   runs is reported), pods without a measurement yet left out; 404 when the metrics API is
 *   not registered, 503 when metrics-server is down (`metricsApi`).
 * Pods are scheduled on creation (spec.nodeName is set), so graceful deletion applies.
 * Time is the simulator's own clock: it moves only with `advance(ms)`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface SimPod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    [key: string]: unknown;
  };
  spec: {
    nodeName?: string;
    terminationGracePeriodSeconds?: number;
    containers: Array<{ name: string }>;
    [key: string]: unknown;
  };
  status: { phase: Phase; startTime?: string; [key: string]: unknown };
}

export interface ContainerUsage {
  readonly cpu: string;
  readonly memory: string;
}

export type MetricsApi = 'available' | 'not-registered' | 'unavailable';

/** One value (the first container's) or one per container. */
export type PodMetricsInput = ContainerUsage | Array<{ name: string } & ContainerUsage>;

export interface K8sSimulatorOptions {
  /** The only bearer token accepted. Default `sim-token`. */
  readonly token?: string;
  /** Pending pods turn Running this long after creation (sim clock); undefined: only through `setPhase`. */
  readonly startAfterMs?: number;
  /** Initial clock, epoch ms. */
  readonly now?: number;
  /** Serve https with this key and certificate (PEM) instead of plain http. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Default 'available'. */
  readonly metricsApi?: MetricsApi;
  /** See `metricsScript`. */
  readonly metricsScript?: MetricsScript;
}

/** Usage of a pod that has none set by `setPodMetrics`, e.g. by its labels; undefined: not measured yet. */
export type MetricsScript = (pod: SimPod) => PodMetricsInput | undefined;

interface Stored {
  pod: SimPod;
  createdAt: number;
  deleteAt?: number;
  usage?: PodMetricsInput;
}

type Requirement = { key: string; op: '=' | '!=' | 'exists' | '!exists'; value?: string };

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_PART = '[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?';
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function parseSelector(selector: string): Requirement[] {
  const requirements: Requirement[] = [];
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (!term) continue;
    const existence = new RegExp(`^(!?)(${LABEL_PART})$`).exec(term);
    if (existence) {
      requirements.push({ key: existence[2]!, op: existence[1] ? '!exists' : 'exists' });
      continue;
    }
    const equality = new RegExp(`^(${LABEL_PART})\\s*(==|=|!=)\\s*([A-Za-z0-9._-]*)$`).exec(term);
    if (!equality) throw new ApiError(400, 'BadRequest', `unable to parse requirement: found '${term}'`);
    requirements.push({ key: equality[1]!, op: equality[3] === '!=' ? '!=' : '=', value: equality[4]! });
  }
  return requirements;
}

const matches = (labels: Record<string, string> | undefined, requirements: readonly Requirement[]): boolean =>
  requirements.every(({ key, op, value }) => {
    const actual = labels?.[key];
    if (op === 'exists') return actual !== undefined;
    if (op === '!exists') return actual === undefined;
    if (op === '=') return actual === value;
    return actual !== value; // '!=' also matches pods without the label, as in Kubernetes
  });

export class K8sSimulator {
  readonly token: string;
  /** API calls by verb and resource, e.g. `list pods`, `create pods`, `delete pods`, `list podmetrics`. */
  readonly calls: Record<string, number> = {};
  metricsApi: MetricsApi;
  metricsScript: MetricsScript | undefined;
  private clock: number;
  private resourceVersion = 1;
  private readonly pods = new Map<string, Stored>();
  private readonly startAfterMs: number | undefined;
  private server: Server | undefined;
  private baseUrl = '';

  private constructor(options: K8sSimulatorOptions) {
    this.token = options.token ?? 'sim-token';
    this.startAfterMs = options.startAfterMs;
    this.clock = options.now ?? Date.now();
    this.metricsApi = options.metricsApi ?? 'available';
    this.metricsScript = options.metricsScript;
  }

  static async start(options: K8sSimulatorOptions = {}): Promise<K8sSimulator> {
    const sim = new K8sSimulator(options);
    const handler = (req: IncomingMessage, res: ServerResponse): void => void sim.handle(req, res);
    const server = options.tls ? createTlsServer(options.tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sim.server = server;
    sim.baseUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return sim;
  }

  get url(): string {
    return this.baseUrl;
  }

  now(): number {
    return this.clock;
  }

  /** Moves the clock: pods whose grace period ran out disappear, due pods start. */
  advance(ms: number): void {
    this.clock += ms;
    for (const [key, stored] of this.pods) {
      if (stored.deleteAt !== undefined && stored.deleteAt <= this.clock) this.pods.delete(key);
      else if (
        this.startAfterMs !== undefined &&
        stored.pod.status.phase === 'Pending' &&
        stored.createdAt + this.startAfterMs <= this.clock
      ) {
        // It started when it was due, not at the end of a long advance.
        stored.pod.status.startTime ??= rfc3339(stored.createdAt + this.startAfterMs);
        this.setPhase(stored.pod.metadata.name, 'Running', stored.pod.metadata.namespace);
      }
    }
  }

  /** What the kubelet would report: `Running` also sets status.startTime. */
  setPhase(name: string, phase: Phase, namespace = 'iota'): void {
    const stored = this.stored(namespace, name);
    stored.pod.status.phase = phase;
    if (phase === 'Running') stored.pod.status.startTime ??= rfc3339(this.clock);
    stored.pod.metadata.resourceVersion = String(++this.resourceVersion);
  }

  /** The usage metrics-server would report for the pod, e.g. `{ cpu: '120m', memory: '64Mi' }`. */
  setPodMetrics(name: string, usage: PodMetricsInput, namespace = 'iota'): void {
    this.stored(namespace, name).usage = usage;
  }

  /** The former name of `setPodMetrics`. */
  setUsage(name: string, usage: PodMetricsInput, namespace = 'iota'): void {
    this.setPodMetrics(name, usage, namespace);
  }

  pod(name: string, namespace = 'iota'): SimPod | undefined {
    const stored = this.pods.get(`${namespace}/${name}`);
    return stored && structuredClone(stored.pod);
  }

  list(namespace = 'iota'): SimPod[] {
    return [...this.pods.values()]
      .filter((s) => s.pod.metadata.namespace === namespace)
      .map((s) => structuredClone(s.pod));
  }

  resetCalls(): void {
    for (const key of Object.keys(this.calls)) delete this.calls[key];
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------

  private stored(namespace: string, name: string): Stored {
    const stored = this.pods.get(`${namespace}/${name}`);
    if (!stored) throw new Error(`simulator: no pod ${namespace}/${name}`);
    return stored;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://sim');
      const route = this.route(req.method ?? 'GET', url.pathname);
      this.calls[route.call] = (this.calls[route.call] ?? 0) + 1;
      // Authentication comes before anything else, as in the real server.
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const [code, payload] = route.run(url.searchParams, await readBody(req));
      send(res, code, payload);
    } catch (error) {
      const apiError = error instanceof ApiError ? error : new ApiError(500, 'InternalError', String(error));
      send(res, apiError.code, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: apiError.message,
        reason: apiError.reason,
        ...(apiError.details ? { details: apiError.details } : {}),
        code: apiError.code,
      });
    }
  }

  private route(
    method: string,
    path: string,
  ): { call: string; run: (query: URLSearchParams, body: unknown) => [number, unknown] } {
    let match = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (match && method === 'GET') return { call: 'list pods', run: (q) => [200, this.listPods(match![1]!, q)] };
    if (match && method === 'POST')
      return { call: 'create pods', run: (_q, body) => [201, this.createPod(match![1]!, body)] };
    match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
    if (match && method === 'GET') return { call: 'get pods', run: () => [200, this.getPod(match![1]!, match![2]!)] };
    if (match && method === 'DELETE') {
      return {
        call: 'delete pods',
        run: (q, body) => [200, this.deletePod(match![1]!, decodeURIComponent(match![2]!), q, body)],
      };
    }
    match = /^\/apis\/metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (match && method === 'GET')
      return { call: 'list podmetrics', run: (q) => [200, this.listMetrics(match![1]!, q)] };
    return {
      call: `${method} ${path}`,
      run: () => {
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      },
    };
  }

  private listPods(namespace: string, query: URLSearchParams): unknown {
    const requirements = parseSelector(query.get('labelSelector') ?? '');
    const items = this.list(namespace).filter((pod) => matches(pod.metadata.labels, requirements));
    return { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private getPod(namespace: string, name: string): SimPod {
    const pod = this.pod(name, namespace);
    if (!pod) throw notFound(name);
    return pod;
  }

  private createPod(namespace: string, body: unknown): SimPod {
    const pod = body as Partial<SimPod> | undefined;
    if (pod?.kind !== 'Pod' || pod.apiVersion !== 'v1')
      throw new ApiError(400, 'BadRequest', 'the body must be a v1 Pod');
    const name = pod.metadata?.name;
    if (!name) throw invalid('""', 'metadata.name: Required value: name or generateName is required');
    if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      throw invalid(
        name,
        `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
      );
    }
    if (pod.metadata?.namespace !== undefined && pod.metadata.namespace !== namespace) {
      throw new ApiError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    if (!Array.isArray(pod.spec?.containers) || pod.spec.containers.length === 0) {
      throw invalid(name, 'spec.containers: Required value');
    }
    const key = `${namespace}/${name}`;
    if (this.pods.has(key)) {
      throw new ApiError(409, 'AlreadyExists', `pods "${name}" already exists`, { name, kind: 'pods' });
    }
    const stored: SimPod = {
      ...(structuredClone(pod) as SimPod),
      metadata: {
        ...structuredClone(pod.metadata!),
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(++this.resourceVersion),
        creationTimestamp: rfc3339(this.clock),
      },
      spec: { terminationGracePeriodSeconds: 30, ...structuredClone(pod.spec), nodeName: 'sim-node' },
      status: { phase: 'Pending' },
    };
    this.pods.set(key, { pod: stored, createdAt: this.clock });
    return structuredClone(stored);
  }

  private deletePod(namespace: string, name: string, query: URLSearchParams, body: unknown): SimPod {
    const stored = this.pods.get(`${namespace}/${name}`);
    if (!stored) throw notFound(name);
    const { pod } = stored;
    const requested =
      query.get('gracePeriodSeconds') ?? (body as { gracePeriodSeconds?: number } | undefined)?.gracePeriodSeconds;
    let grace =
      requested !== undefined && requested !== null
        ? Number(requested)
        : (pod.spec.terminationGracePeriodSeconds ?? 30);
    if (pod.status.phase === 'Failed' || pod.status.phase === 'Succeeded' || !pod.spec.nodeName) grace = 0;
    const deleteAt = this.clock + grace * 1000;
    if (grace === 0) {
      this.pods.delete(`${namespace}/${name}`);
    } else if (stored.deleteAt === undefined || deleteAt < stored.deleteAt) {
      stored.deleteAt = deleteAt;
      pod.metadata.deletionTimestamp = rfc3339(deleteAt);
      pod.metadata.deletionGracePeriodSeconds = grace;
      pod.metadata.resourceVersion = String(++this.resourceVersion);
    }
    return structuredClone(pod);
  }

  private listMetrics(namespace: string, query: URLSearchParams): unknown {
    if (this.metricsApi === 'not-registered') {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (this.metricsApi === 'unavailable') {
      throw new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    }
    const requirements = parseSelector(query.get('labelSelector') ?? '');
    const items = [...this.pods.values()]
      .filter(({ pod }) => pod.metadata.namespace === namespace && pod.status.phase === 'Running')
      .filter(({ pod }) => matches(pod.metadata.labels, requirements))
      .flatMap(({ pod, usage }) => {
        const measured = usage ?? this.metricsScript?.(structuredClone(pod));
        if (!measured) return [];
        const containers = Array.isArray(measured)
          ? measured
          : [{ name: pod.spec.containers[0]?.name ?? 'main', ...measured }];
        return [
          {
            metadata: {
              name: pod.metadata.name,
              namespace,
              labels: pod.metadata.labels,
              creationTimestamp: rfc3339(this.clock),
            },
            timestamp: rfc3339(this.clock),
            window: '15s',
            containers: containers.map(({ name, cpu, memory }) => ({ name, usage: { cpu, memory } })),
          },
        ];
      });
    return { kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {}, items };
  }
}

const notFound = (name: string): ApiError =>
  new ApiError(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
const invalid = (name: string, cause: string): ApiError =>
  new ApiError(422, 'Invalid', `Pod "${name}" is invalid: ${cause}`, { name, kind: 'Pod' });

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'BadRequest', 'the request body is not valid JSON');
  }
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
