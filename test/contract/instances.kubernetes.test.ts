import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS, type KindConfig } from '../../lib/config/kinds.js';
import { presignEksToken } from '../../lib/instances/eks-auth.js';
import { KubernetesRuntime, kubernetesRuntimeFromEnv } from '../../lib/instances/kubernetes.js';
import { defaultTemplatesDir, podTemplateLoader, type PodTemplate } from '../../lib/instances/pod-template.js';
import { InstanceRuntimeError, podName } from '../../lib/instances/port.js';
import { K8sSimulator, type K8sSimulatorOptions } from '../support/k8s-simulator.js';
import { describeInstanceRuntimeContract } from './instances.contract.js';

const [THING, RULE] = DEFAULT_KINDS as [KindConfig, KindConfig];
const templates = podTemplateLoader(defaultTemplatesDir());

function runtimeOn(sim: K8sSimulator, options: { token?: string; namespace?: string } = {}): KubernetesRuntime {
  return new KubernetesRuntime({
    connection: async () => ({ server: sim.url, caPem: undefined, token: options.token ?? sim.token }),
    templates,
    namespace: options.namespace,
    allowInsecureHttp: true,
  });
}

describeInstanceRuntimeContract('kubernetes on the API simulator', async () => {
  const sim = await K8sSimulator.start();
  const runtime = runtimeOn(sim);
  return {
    runtime,
    async kill(name) {
      sim.setPhase(name, 'Failed');
    },
    async passGracePeriod() {
      sim.advance(60_000);
    },
    async teardown() {
      await runtime.close();
      await sim.close();
    },
  };
});

describe('KubernetesRuntime on the API simulator', () => {
  let sim: K8sSimulator;
  let runtime: KubernetesRuntime;

  const start = async (options: K8sSimulatorOptions = {}): Promise<void> => {
    sim = await K8sSimulator.start(options);
    runtime = runtimeOn(sim);
  };

  afterEach(async () => {
    await runtime?.close();
    await sim?.close();
  });

  it('posts the kind template with the name, namespace, labels and instance id the workers rely on', async () => {
    // Prepare
    await start();
    const name = podName(THING, '7', 3);

    // Act
    await runtime.create({ kind: THING, instanceId: '7', name });

    // Assess
    const pod = sim.pod(name)!;
    expect(pod.metadata).toMatchObject({
      name,
      namespace: 'iota',
      labels: { app: 'iota-dac', resource: 'Thing', instanceId: '7', tier: 'worker' },
    });
    const container = (pod.spec.containers as PodTemplate['spec']['containers'])[0]!;
    expect(container.image).toBe('repository/iota-dac:latest');
    expect(container.env?.[0]).toEqual({ name: 'INSTANCE_ID', value: '7' });
    expect(pod.status.phase).toBe('Pending');
  });

  it("deletes with the pod's own grace period, never a forced zero", async () => {
    // Prepare
    await start();
    const name = podName(RULE, '0', 1);
    await runtime.create({ kind: RULE, instanceId: '0', name });
    const template = await templates(RULE);

    // Act
    await runtime.delete(RULE, name);

    // Assess
    expect(sim.pod(name)?.metadata.deletionGracePeriodSeconds).toBe(template.spec.terminationGracePeriodSeconds);
  });

  it('reports Running with the start time once the kubelet has started the pod', async () => {
    // Prepare
    await start({ startAfterMs: 2000 });
    const name = podName(THING, '0', 1);
    await runtime.create({ kind: THING, instanceId: '0', name });

    // Act
    sim.advance(2000);
    const [pod] = await runtime.list(THING);

    // Assess
    expect(pod?.phase).toBe('Running');
    expect(pod?.startedAt).toBe(Math.floor(sim.now() / 1000) * 1000);
  });

  it('creates pods in the configured namespace only', async () => {
    // Prepare
    await start();
    const staging = runtimeOn(sim, { namespace: 'iota-staging' });
    const name = podName(THING, '0', 1);

    // Act
    await staging.create({ kind: THING, instanceId: '0', name });

    // Assess
    expect(sim.pod(name, 'iota-staging')?.metadata.namespace).toBe('iota-staging');
    expect(await runtime.list(THING)).toEqual([]);
    await staging.close();
  });

  it('lists a kind with one API call, however many pods it has', async () => {
    // Prepare
    await start();
    for (let id = 0; id < 12; id++)
      await runtime.create({ kind: THING, instanceId: String(id), name: podName(THING, String(id), 1) });
    sim.resetCalls();

    // Act
    const pods = await runtime.list(THING);

    // Assess
    expect(pods).toHaveLength(12);
    expect(sim.calls).toEqual({ 'list pods': 1 });
  });

  it('creates pods that carry the requests of their template, the base of the usage percentages', async () => {
    // Prepare
    await start();
    const name = podName(THING, '0', 1);

    // Act
    await runtime.create({ kind: THING, instanceId: '0', name });

    // Assess
    const [container] = sim.pod(name)!.spec.containers as PodTemplate['spec']['containers'];
    expect(container?.resources).toMatchObject({ requests: { cpu: '250m', memory: '256Mi' } });
  });

  it('reports usage in millicores and bytes and as percentages of the pod requests', async () => {
    // Prepare: the iota-dac template requests 250m and 256Mi.
    await start();
    const a = podName(THING, '0', 1);
    const b = podName(THING, '1', 1);
    await runtime.create({ kind: THING, instanceId: '0', name: a });
    await runtime.create({ kind: THING, instanceId: '1', name: b });
    sim.setPhase(a, 'Running');
    sim.setPhase(b, 'Running');
    sim.setPodMetrics(a, { cpu: '120m', memory: '64Mi' });
    sim.setPodMetrics(b, { cpu: '1123456789n', memory: '1Gi' });

    // Act
    const usage = await runtime.usage(THING);

    // Assess
    expect(usage.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: a, instanceId: '0', cpuMillis: 120, memoryBytes: 64 * 2 ** 20, cpuPercent: 48, memoryPercent: 25 },
      {
        name: b,
        instanceId: '1',
        cpuMillis: 1123.456789,
        memoryBytes: 2 ** 30,
        cpuPercent: 449.3827156,
        memoryPercent: 400,
      },
    ]);
  });

  it('reads the usage of a kind with one metrics call and one pod list, however many pods it has', async () => {
    // Prepare
    await start({
      metricsScript: (pod) => ({ cpu: `${10 * (1 + Number(pod.metadata.labels?.instanceId))}m`, memory: '32Mi' }),
    });
    for (let id = 0; id < 12; id++) {
      const name = podName(THING, String(id), 1);
      await runtime.create({ kind: THING, instanceId: String(id), name });
      sim.setPhase(name, 'Running');
    }
    sim.resetCalls();

    // Act
    const usage = await runtime.usage(THING);

    // Assess
    expect(sim.calls).toEqual({ 'list podmetrics': 1, 'list pods': 1 });
    expect(usage).toHaveLength(12);
    expect(usage.find((u) => u.instanceId === '11')).toMatchObject({
      cpuMillis: 120,
      cpuPercent: 48,
      memoryPercent: 12.5,
    });
  });

  it('reports only Running pods that are not being deleted, of the kind asked for', async () => {
    // Prepare
    await start({ metricsScript: () => ({ cpu: '100m', memory: '64Mi' }) });
    const running = podName(THING, '0', 1);
    const leaving = podName(THING, '1', 1);
    const pending = podName(THING, '2', 1);
    const rule = podName(RULE, '0', 1);
    for (const [kind, id, name] of [
      [THING, '0', running],
      [THING, '1', leaving],
      [THING, '2', pending],
      [RULE, '0', rule],
    ] as const) {
      await runtime.create({ kind, instanceId: id, name });
    }
    for (const name of [running, leaving, rule]) sim.setPhase(name, 'Running');
    await runtime.delete(THING, leaving);

    // Act
    const usage = await runtime.usage(THING);

    // Assess
    expect(usage.map((u) => u.name)).toEqual([running]);
  });

  it.each(['not-registered', 'unavailable'] as const)('reports no usage when the metrics API is %s', async (state) => {
    // Prepare
    await start();
    const name = podName(THING, '0', 1);
    await runtime.create({ kind: THING, instanceId: '0', name });
    sim.setPhase(name, 'Running');
    sim.setPodMetrics(name, { cpu: '1', memory: '1Gi' });
    sim.metricsApi = state;

    // Act
    const usage = await runtime.usage(THING);

    // Assess
    expect(usage).toEqual([]);
    expect(sim.calls['list podmetrics']).toBe(1);
  });

  it('fails with a 401 InstanceRuntimeError when the token is wrong', async () => {
    // Prepare
    await start();
    const intruder = runtimeOn(sim, { token: 'stolen' });

    // Act
    const error = await intruder.list(THING).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InstanceRuntimeError);
    expect(error).toMatchObject({ status: 401, message: expect.stringContaining('Unauthorized') });
    await intruder.close();
  });

  it("fails with the API server's status and message when it rejects a pod", async () => {
    // Prepare
    await start();

    // Act
    const error = await runtime.create({ kind: THING, instanceId: '0', name: 'Not_A_Name' }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InstanceRuntimeError);
    expect(error).toMatchObject({
      status: 422,
      message: expect.stringContaining('Invalid: Pod "Not_A_Name" is invalid'),
    });
    expect(sim.list()).toEqual([]);
  });

  it('refuses a plain http server unless insecure http is allowed', async () => {
    // Prepare
    await start();
    const strict = new KubernetesRuntime({
      connection: async () => ({ server: sim.url, caPem: undefined, token: sim.token }),
      templates,
    });

    // Act
    const error = await strict.list(THING).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InstanceRuntimeError);
    expect((error as Error).message).toMatch(/must be https/);
    expect(sim.calls).toEqual({});
    await strict.close();
  });
});

/** A throwaway CA and a server certificate for 127.0.0.1 it signed, made with the openssl CLI. */
function makeCertificates(dir: string): { caPem: string; key: string; cert: string; otherCaPem: string } {
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ca = (name: string): void =>
    run(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    );
  ca('ca');
  ca('other-ca');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  );
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  return { caPem: read('ca.pem'), key: read('server.key'), cert: read('server.pem'), otherCaPem: read('other-ca.pem') };
}

const hasOpenssl = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOpenssl)('KubernetesRuntime over TLS', () => {
  let dir: string;
  let certs: ReturnType<typeof makeCertificates>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'k8s-tls-'));
    certs = makeCertificates(dir);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('talks to a server whose certificate the configured CA signed', async () => {
    // Prepare
    const sim = await K8sSimulator.start({ tls: { key: certs.key, cert: certs.cert } });
    const runtime = kubernetesRuntimeFromEnv({ K8S_SERVER: sim.url, K8S_TOKEN: sim.token, K8S_CA_DATA: certs.caPem });

    // Act
    const outcome = await runtime.create({ kind: THING, instanceId: '0', name: podName(THING, '0', 1) });

    // Assess
    expect(outcome).toBe('created');
    expect(sim.list()).toHaveLength(1);
    await runtime.close();
    await sim.close();
  });

  it('refuses a server whose certificate another CA signed', async () => {
    // Prepare
    const sim = await K8sSimulator.start({ tls: { key: certs.key, cert: certs.cert } });
    const runtime = kubernetesRuntimeFromEnv({
      K8S_SERVER: sim.url,
      K8S_TOKEN: sim.token,
      K8S_CA_DATA: Buffer.from(certs.otherCaPem).toString('base64'),
    });

    // Act
    const error = await runtime.list(THING).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InstanceRuntimeError);
    expect((error as Error).message).toMatch(/certificate/i);
    expect(sim.calls).toEqual({});
    await runtime.close();
    await sim.close();
  });

  it('reaches an EKS cluster with the endpoint and CA from DescribeCluster and a signed STS token', async () => {
    // Prepare
    const signingTime = Date.UTC(2025, 0, 2, 3, 4, 5);
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
    const token = await presignEksToken({ clusterName: 'iota-prod', region: 'eu-west-1', credentials, signingTime });
    const sim = await K8sSimulator.start({ tls: { key: certs.key, cert: certs.cert }, token });
    const described: string[] = [];
    const runtime = kubernetesRuntimeFromEnv(
      { EKS_CLUSTER_NAME: 'iota-prod', AWS_REGION: 'eu-west-1' },
      {
        eks: {
          credentials: async () => credentials,
          now: () => signingTime,
          describeCluster: async (name) => {
            described.push(name);
            return { server: sim.url, caPem: certs.caPem };
          },
        },
      },
    );

    // Act
    await runtime.create({ kind: THING, instanceId: '0', name: podName(THING, '0', 1) });
    const pods = await runtime.list(THING);

    // Assess
    expect(pods.map((p) => p.instanceId)).toEqual(['0']);
    expect(described).toEqual(['iota-prod']);
    await runtime.close();
    await sim.close();
  });
});
