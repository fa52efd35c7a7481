/**
 * infra/zookeeper/ (docs/zookeeper.md): three servers, one per node, each
 * with a volume of its own; a headless and a client Service; one server down
 * at a time; digest auth from a Secret; four-letter words cut down to what
 * the probes and monitoring use; the Pod Security `restricted` profile. And
 * the two sizes the orchestrator depends on, checked against its own
 * constants: jute.maxbuffer against the largest request it sends (built with
 * its own op builders and measured with the client library's serializer),
 * maxClientCnxns against the Lambda concurrency of serverless.yml.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import zookeeper from 'node-zookeeper-client';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { isResourceId } from '../../../lib/domain/resource-id.js';
import { Layout } from '../../../lib/orchestration/layout.js';
import { IDS_PER_MOVE } from '../../../lib/orchestration/moves.js';
import { IDS_PER_MULTI, listBytes, MULTI_BUDGET_BYTES } from '../../../lib/orchestration/placement.js';
import { InstanceWrites } from '../../../lib/orchestration/instance-writes.js';
import type { CachedInstance } from '../../../lib/orchestration/repository.js';
import type { WriteOp } from '../../../lib/store/port.js';
import { digestId } from '../../../lib/store/zookeeper.js';
import { REPO_ROOT } from '../handlers/fixtures.js';

/** A parsed manifest, read loosely: the tests assert its fields one by one. */
// biome-ignore lint/suspicious/noExplicitAny: YAML of any shape
type Manifest = any;

const DIR = join(REPO_ROOT, 'infra', 'zookeeper');
const manifests: Manifest[] = readdirSync(DIR)
  .filter((file) => file.endsWith('.yaml'))
  .flatMap((file) => parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((document) => document.toJS()));
const one = (kind: string, name?: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0];
};
const statefulSet = one('StatefulSet', 'zookeeper');
const pod = statefulSet.spec.template.spec;
const container = pod.containers[0];
const zooCfg = new Map<string, string>(
  (one('ConfigMap', 'zookeeper-config').data['zoo.cfg'] as string)
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);
const envValue = (name: string): string => container.env.find((variable: Manifest) => variable.name === name).value;
/** `-Dname=value` of the server's JVM flags. */
const jvmProperty = (name: string): string | undefined =>
  new RegExp(`-D${name.replaceAll('.', '\\.')}=(\\S+)`).exec(envValue('SERVER_JVMFLAGS'))?.[1];
const bytesOf = (quantity: string): number => {
  const match = /^(\d+)(Ki|Mi|Gi|k|m|g)?$/.exec(quantity)!;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
};

describe('ZooKeeper on EKS (infra/zookeeper)', () => {
  it('runs three servers, one per node, each on a volume of its own', () => {
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.serviceName).toBe('zookeeper-headless');
    expect(statefulSet.spec.podManagementPolicy).toBe('Parallel');
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      {
        labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'zookeeper' } },
        topologyKey: 'kubernetes.io/hostname',
      },
    ]);
    const [claim] = statefulSet.spec.volumeClaimTemplates;
    expect(claim.metadata.name).toBe('data');
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(claim.spec.storageClassName).toBe(one('StorageClass').metadata.name);
    expect(container.volumeMounts).toContainEqual({ name: 'data', mountPath: zooCfg.get('dataDir') });
    expect([...zooCfg].filter(([key]) => key.startsWith('server.')).map(([, value]) => value)).toEqual(
      [0, 1, 2].map((n) => `zookeeper-${n}.zookeeper-headless.iota-zookeeper.svc.cluster.local:2888:3888`),
    );
  });

  it('names the servers through a headless Service published before readiness, and serves clients through another', () => {
    const headless = one('Service', 'zookeeper-headless');
    const client = one('Service', 'zookeeper');

    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(headless.spec.ports.map((port: Manifest) => port.port).sort()).toEqual([2181, 2888, 3888]);
    expect(client.spec.ports).toEqual([{ name: 'client', port: 2181, targetPort: 'client' }]);
    for (const service of [headless, client])
      expect(service.spec.selector).toEqual({ 'app.kubernetes.io/name': 'zookeeper' });
    expect(statefulSet.spec.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'zookeeper' });
  });

  it('runs a pinned release of the official image', () => {
    // A version, never a moving tag (latest, 3.8): a mirrored image may pin its digest instead.
    expect(container.image).toMatch(/(^|\/)zookeeper(:\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})$/);
  });

  it('lets a disruption take one server at a time', () => {
    const budget = one('PodDisruptionBudget');

    expect(budget.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'zookeeper' } },
    });
  });

  it('takes the super digest from a Secret into the digest provider', () => {
    expect(container.env).toContainEqual({
      name: 'ZK_SUPER_DIGEST',
      valueFrom: { secretKeyRef: { name: 'zookeeper-auth', key: 'superDigest' } },
    });
    // Kubernetes expands $(NAME) of an earlier variable; the digest itself is never in the manifests.
    expect(jvmProperty('zookeeper.DigestAuthenticationProvider.superDigest')).toBe('$(ZK_SUPER_DIGEST)');
    const names = container.env.map((variable: Manifest) => variable.name);
    expect(names.indexOf('ZK_SUPER_DIGEST')).toBeLessThan(names.indexOf('SERVER_JVMFLAGS'));
  });

  it('answers only ruok, srvr and mntr, and probes liveness with ruok and readiness with srvr', () => {
    expect(zooCfg.get('4lw.commands.whitelist')).toBe('ruok,srvr,mntr');
    const command = (probe: string): string => container[probe].exec.command.join(' ');

    expect(command('livenessProbe')).toMatch(/printf ruok .*imok/);
    expect(command('startupProbe')).toMatch(/printf ruok .*imok/);
    expect(command('readinessProbe')).toMatch(/printf srvr .*\^Mode: /);
  });

  it('requests CPU and memory, and limits memory above the heap', () => {
    const { requests, limits } = container.resources;
    const heap = bytesOf(/-Xmx(\d+[kmg]?)\b/.exec(envValue('SERVER_JVMFLAGS'))![1]!);

    expect(requests.cpu).toBeDefined();
    expect(bytesOf(requests.memory)).toBeGreaterThanOrEqual(heap);
    expect(bytesOf(limits.memory)).toBeGreaterThan(heap);
  });

  it('passes the Pod Security restricted profile, in a namespace that enforces it', () => {
    expect(one('Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.hostNetwork ?? false).toBe(false);
    for (const each of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(each.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(each.securityContext.capabilities.add ?? []).toEqual([]);
      expect(each.ports.every((port: Manifest) => port.hostPort === undefined)).toBe(true);
    }
    const allowedVolumes = ['configMap', 'emptyDir', 'persistentVolumeClaim', 'secret', 'projected', 'downwardAPI'];
    for (const volume of pod.volumes)
      expect(Object.keys(volume).filter((key) => key !== 'name')).toEqual([
        expect.toSatisfy((key: string) => allowedVolumes.includes(key)),
      ]);
  });
});

describe('ZooKeeper sizes (docs/zookeeper.md)', () => {
  /** The longest id validation accepts: any id a message may carry can land in a list. */
  const MAX_ID_LENGTH = (() => {
    let length = 1;
    while (isResourceId('x'.repeat(length + 1))) length++;
    return length;
  })();
  /** An instance of the largest capacity (legacy default 5000) full of the longest ids. */
  const CAPACITY = 5000;
  /** What the orchestrator's user looks like in ZK_AUTH: its digest id is in every node it creates. */
  const AUTH = `iota-orchestrator:${'p'.repeat(32)}`;

  // The op builders every use case commits through.
  const writes = new InstanceWrites(new Layout());

  const ids = (count: number, from: number): string[] =>
    Array.from({ length: count }, (_, i) => String(from + i).padStart(MAX_ID_LENGTH, 'x'));
  const cached = (id: string, held: string[]): CachedInstance => ({
    state: { id, used: held.length, count: CAPACITY, ids: held, reloadTimes: 1_000_000 },
    versions: { node: 1_000_000, resources: 1_000_000, reload: 1_000_000 },
  });
  /** The list change as every use case writes it: counters, ids and a `_reload` bump. */
  const listChange = (id: string, before: string[], after: string[]): WriteOp[] =>
    writes.updateOps('Thing', cached(id, before), { ...cached(id, after).state });

  /**
   * The bytes ZooKeeper compares with jute.maxbuffer (the request's length field): the ops as the ZooKeeper
   * adapter queues them (lib/store/zookeeper.ts), serialized by the client library itself.
   */
  const requestBytes = (ops: readonly WriteOp[]): number => {
    const { ACL, Id, Permission } = zookeeper;
    const acls = [
      new ACL(Permission.ALL, new Id('digest', digestId(AUTH))),
      new ACL(Permission.READ, new Id('world', 'anyone')),
    ];
    const transaction = zookeeper.createClient('127.0.0.1:1').transaction();
    for (const op of ops) {
      if (op.op === 'create') transaction.create(op.path, Buffer.from(op.data, 'utf8'), acls);
      else if (op.op === 'set') transaction.setData(op.path, Buffer.from(op.data, 'utf8'), op.version);
      else if (op.op === 'remove') transaction.remove(op.path, op.version);
      else transaction.check(op.path, op.version);
    }
    const jute = createRequire(import.meta.url)('node-zookeeper-client/lib/jute/index.js') as JuteSerializer;
    const header = new jute.protocol.RequestHeader();
    header.type = jute.OP_CODES.MULTI;
    return header.byteLength() + new jute.TransactionRequest([...transaction.ops]).byteLength();
  };

  /** A move commit (lib/orchestration/moves.ts): both lists, whole, and the index entry of every moved id. */
  const largestMove = (): number => {
    const moved = ids(IDS_PER_MOVE, 3 * CAPACITY);
    const staying = ids(CAPACITY - IDS_PER_MOVE, 0);
    const target = ids(CAPACITY - IDS_PER_MOVE, CAPACITY);
    return requestBytes([
      ...listChange('98', [...staying, ...moved], staying),
      ...listChange('99', target, [...target, ...moved]),
      ...moved.map((id) => writes.indexMoveOp('Thing', id, '99')),
    ]);
  };

  /**
   * A placement multi (lib/orchestration/placement.ts): instances are packed while the estimate is under
   * MULTI_BUDGET_BYTES, so the last one packed may bring a full list on top of almost the whole budget; and
   * each placed id's index entry is created with the orchestrator's ACL.
   */
  const largestPlacement = (): number => {
    const taken = ids(IDS_PER_MULTI - 1, 4 * CAPACITY);
    const estimate = listBytes(taken) + taken.length * 64;
    const held = ids(Math.floor((MULTI_BUDGET_BYTES - 1 - estimate) / (MAX_ID_LENGTH + 3)), 0);
    const full = ids(CAPACITY - 1, CAPACITY);
    const last = ids(1, 5 * CAPACITY);
    return requestBytes([
      ...listChange('98', held, [...held, ...taken]),
      ...listChange('99', full, [...full, ...last]),
      ...[...taken, ...last].map((id) => writes.indexCreateOp('Thing', id, '99')),
    ]);
  };

  it('sets jute.maxbuffer to at least twice the largest request the orchestrator sends', () => {
    const largest = Math.max(largestMove(), largestPlacement());
    const maxBuffer = Number(jvmProperty('jute.maxbuffer'));

    // The figure docs/zookeeper.md gives: over ZooKeeper's default of 1,048,575 bytes.
    expect(largest).toBe(1_361_451);
    expect(maxBuffer).toBeGreaterThanOrEqual(2 * largest);
    // Only a JVM flag sets it: a key in zoo.cfg would become zookeeper.jute.maxbuffer, which nothing reads.
    expect(zooCfg.has('jute.maxbuffer')).toBe(false);
  });

  it('allows per client address twice the ZooKeeper connections the Lambdas can hold at once (serverless.yml)', () => {
    const sls = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as Manifest;
    const resolved = (value: unknown): number => {
      const param = /^\$\{param:(\w+)\}$/.exec(String(value))?.[1];
      return Number(param ? sls.params.default[param] : value);
    };
    const functions = sls.functions;
    const notifyEvent = functions.notify.events.find((event: Manifest) => event.sqs).sqs;
    const connections =
      resolved(functions.api.reservedConcurrency) +
      resolved(notifyEvent.maximumConcurrency) +
      HEARTBEAT_PARTITIONS +
      resolved(functions.reconcile.reservedConcurrency) +
      resolved(functions.catalog.reservedConcurrency) +
      resolved(functions.alerts.reservedConcurrency);

    // 20 + 4 + 6 + 1 + 1 + 1 with the defaults; twice that while a deploy's old and new containers overlap.
    expect(connections).toBe(33);
    expect(Number(zooCfg.get('maxClientCnxns'))).toBeGreaterThanOrEqual(2 * connections);
  });
});

/**
 * Partitions of the platform's HeartBeat topic: Lambda runs at most one heartbeat invocation (one
 * container, one connection) per partition. Not in serverless.yml; docs/zookeeper.md and the README assume 6.
 */
const HEARTBEAT_PARTITIONS = 6;

/** The parts of node-zookeeper-client's jute module (lib/jute, untyped) that size a multi request. */
interface JuteSerializer {
  OP_CODES: { MULTI: number };
  protocol: { RequestHeader: new () => { type: number; byteLength(): number } };
  TransactionRequest: new (ops: unknown[]) => { byteLength(): number };
}
