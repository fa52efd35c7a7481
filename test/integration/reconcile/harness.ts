/**
 * The reconcile loop wired as in production, on test infrastructure: the
 * Kubernetes adapter talking HTTP to the API simulator, a real store, the
 * packaged pod templates, and an in-memory alert publisher. Time is the
 * simulator's clock, so pod ages and heartbeat ages share one timeline.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryAlertPublisher } from '../../../lib/alerts.js';
import { createApp, type App } from '../../../lib/app.js';
import { DEFAULT_KINDS, type KindConfig } from '../../../lib/config/kinds.js';
import { DEFAULT_SETTINGS, type Settings } from '../../../lib/config/settings.js';
import type { InstanceRuntime } from '../../../lib/instances/port.js';
import { Metrics } from '../../../lib/metrics.js';
import { reconcile, type ReconcileOptions, type ReconcileReport } from '../../../lib/reconcile/reconcile.js';
import { K8sSimulator, type SimPod } from '../../support/k8s-simulator.js';
import { openTestStore, type StoreAdapter, type TestStore } from '../../support/stores.js';
import { kubernetesRuntimeFor, silentLogger } from './runtime.js';

export { kubernetesRuntimeFor, silentLogger };

export const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);
/** Pods turn Running this long after creation on the simulator's clock. */
export const START_AFTER_MS = 5_000;

export const THING = DEFAULT_KINDS.find((kind) => kind.resource === 'Thing')!;
export const RULE = DEFAULT_KINDS.find((kind) => kind.resource === 'Rule')!;

export interface Harness {
  readonly sim: K8sSimulator;
  readonly app: App;
  readonly testStore: TestStore;
  readonly alerts: MemoryAlertPublisher;
  /** One reconcile run at the simulator's time. */
  run(options?: ReconcileOptions): Promise<ReconcileReport>;
  /** Gives each kind exactly `count` instances ("0" … "count-1"). */
  instances(kind: KindConfig, count: number): Promise<void>;
  /** Heartbeats at the simulator's current time. */
  beat(kind: KindConfig, ids: readonly string[]): Promise<void>;
  /** Moves the simulator's clock (pods start, terminating ones go). */
  advance(ms: number): void;
  /** Live (not terminating) pods of an instance, by label. */
  livePods(kind: KindConfig, instanceId: string): SimPod[];
  /** Every pod of an instance, terminating ones included, by label. */
  allPods(kind: KindConfig, instanceId: string): SimPod[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly adapter?: StoreAdapter;
  readonly kinds?: readonly KindConfig[];
  readonly settings?: Partial<Settings>;
  /** Wraps the Kubernetes runtime, e.g. to inject faults at the HTTP level. */
  readonly server?: (sim: K8sSimulator) => Promise<{ url: string; close(): Promise<void> }>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const sim = await K8sSimulator.start({ now: T0, startAfterMs: START_AFTER_MS });
  const front = options.server ? await options.server(sim) : undefined;
  const testStore = await openTestStore(options.adapter ?? 'sqlite', 'reconcile');
  const runtime: InstanceRuntime = kubernetesRuntimeFor(front?.url ?? sim.url, sim.token);
  const alerts = new MemoryAlertPublisher(silentLogger);
  const app = await createApp(testStore.env, {
    store: testStore.store,
    kinds: options.kinds ?? DEFAULT_KINDS,
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    runtime,
    logger: silentLogger,
  });
  const byLabel = (kind: KindConfig, instanceId: string) =>
    sim
      .list()
      .filter(
        (pod) => pod.metadata.labels?.resource === kind.resource && pod.metadata.labels?.instanceId === instanceId,
      );

  return {
    sim,
    app,
    testStore,
    alerts,
    run: (runOptions = {}) =>
      reconcile(app, {
        now: () => sim.now(),
        alerts,
        metrics: new Metrics('test', {}, () => undefined),
        ...runOptions,
      }),
    async instances(kind, count) {
      await app.orchestrator.orchestrate(kind.resource, { initInstances: count }, 'test');
    },
    async beat(kind, ids) {
      await app.orchestrator.recordHeartbeats(
        ids.map((instanceId) => ({ resource: kind.resource, instanceId, at: sim.now() })),
      );
    },
    advance: (ms) => sim.advance(ms),
    livePods: (kind, instanceId) => byLabel(kind, instanceId).filter((pod) => !pod.metadata.deletionTimestamp),
    allPods: byLabel,
    async close() {
      await app.close();
      await front?.close();
      await sim.close();
      await testStore.cleanup();
    },
  };
}

export const names = (pods: readonly SimPod[]): string[] => pods.map((pod) => pod.metadata.name).sort();

export interface Faults {
  /** Pod names whose create fails. */
  readonly create?: ReadonlySet<string>;
  /** Pod names whose delete fails. */
  readonly delete?: ReadonlySet<string>;
  /** Resource kinds whose pod list fails. */
  readonly list?: ReadonlySet<string>;
  /** Every pod create is answered this much later (a slow API server). */
  readonly createDelayMs?: number;
}

const STATUS_500 = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: 'etcdserver: request timed out',
  reason: 'InternalError',
  code: 500,
});

/**
 * An HTTP front for the simulator that answers the listed requests with the
 * Status a failing API server sends (500 InternalError) and forwards
 * everything else untouched, so the adapter sees a real HTTP failure.
 */
export function withFaults(faults: Faults): (sim: K8sSimulator) => Promise<{ url: string; close(): Promise<void> }> {
  const fails = (method: string | undefined, url: URL, body: Buffer): boolean => {
    if (method === 'POST' && url.pathname.endsWith('/pods')) {
      const name = (JSON.parse(body.toString('utf8')) as { metadata?: { name?: string } }).metadata?.name;
      return name !== undefined && (faults.create?.has(name) ?? false);
    }
    if (method === 'DELETE')
      return faults.delete?.has(decodeURIComponent(url.pathname.split('/').at(-1) ?? '')) ?? false;
    if (method === 'GET' && url.pathname.endsWith('/pods')) {
      const resource = /(?:^|,)resource=([^,]+)/.exec(url.searchParams.get('labelSelector') ?? '')?.[1];
      return resource !== undefined && (faults.list?.has(resource) ?? false);
    }
    return false;
  };
  return async (sim) => {
    const target = new URL(sim.url);
    const server = createServer((req, res) => {
      const forward = (body: Buffer): void => {
        const upstream = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', (error) => res.writeHead(502).end(String(error)));
        upstream.end(body);
      };
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (fails(req.method, new URL(req.url ?? '/', 'http://front'), body)) {
          res.writeHead(500, { 'content-type': 'application/json' }).end(STATUS_500);
          return;
        }
        const delay = req.method === 'POST' ? (faults.createDelayMs ?? 0) : 0;
        setTimeout(() => forward(body), delay);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  };
}
