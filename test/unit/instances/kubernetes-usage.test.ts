import { describe, expect, it } from 'vitest';
import { usageOfPods, type ListedPod, type PodMetricsList } from '../../../lib/instances/kubernetes-usage.js';

type Requests = Record<string, string> | undefined;

const pod = (
  name: string,
  requests: Requests[],
  extra: { phase?: string; deleting?: boolean; instanceId?: string | null } = {},
): ListedPod => ({
  metadata: {
    name,
    labels:
      extra.instanceId === null
        ? { resource: 'Thing' }
        : { resource: 'Thing', instanceId: extra.instanceId ?? name.split('-')[2]! },
    ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:30Z' } : {}),
  },
  spec: { containers: requests.map((r) => (r ? { resources: { requests: r } } : {})) },
  status: { phase: extra.phase ?? 'Running' },
});

const metrics = (...items: Array<[string, Array<[string, string]>]>): PodMetricsList => ({
  items: items.map(([name, containers]) => ({
    metadata: { name },
    containers: containers.map(([cpu, memory], index) => ({ name: `c${index}`, usage: { cpu, memory } })),
  })),
});

describe('pod usage from pod metrics and pod requests', () => {
  it('sums usage over the containers and requests over the spec, and gives the percentages of the requests', () => {
    // Prepare
    const pods = [
      pod('iota-dac-0-g1', [
        { cpu: '100m', memory: '64Mi' },
        { cpu: '150m', memory: '192Mi' },
      ]),
    ];

    // Act
    const usage = usageOfPods(
      metrics([
        'iota-dac-0-g1',
        [
          ['50m', '32Mi'],
          ['75m', '96Mi'],
        ],
      ]),
      pods,
    );

    // Assess
    expect(usage).toEqual([
      {
        name: 'iota-dac-0-g1',
        instanceId: '0',
        cpuMillis: 125,
        memoryBytes: 128 * 2 ** 20,
        cpuPercent: 50,
        memoryPercent: 50,
      },
    ]);
  });

  it('leaves a percentage out when a container has no request for that resource', () => {
    // Prepare: the sidecar requests memory only; the other pod requests nothing.
    const pods = [
      pod('iota-dac-0-g1', [{ cpu: '250m', memory: '128Mi' }, { memory: '128Mi' }]),
      pod('iota-dac-1-g1', [undefined]),
    ];

    // Act
    const usage = usageOfPods(metrics(['iota-dac-0-g1', [['250m', '128Mi']]], ['iota-dac-1-g1', [['1', '1Gi']]]), pods);

    // Assess
    expect(usage).toEqual([
      { name: 'iota-dac-0-g1', instanceId: '0', cpuMillis: 250, memoryBytes: 128 * 2 ** 20, memoryPercent: 50 },
      { name: 'iota-dac-1-g1', instanceId: '1', cpuMillis: 1000, memoryBytes: 2 ** 30 },
    ]);
  });

  it('reports only listed pods that are Running, not being deleted and carry an instance id', () => {
    // Prepare
    const requests = [{ cpu: '250m', memory: '256Mi' }];
    const pods = [
      pod('iota-dac-0-g1', requests),
      pod('iota-dac-1-g1', requests, { deleting: true }),
      pod('iota-dac-2-g1', requests, { phase: 'Pending' }),
      pod('iota-dac-3-g1', requests, { phase: 'Failed' }),
      pod('iota-dac-4-g1', requests, { instanceId: null }),
    ];
    const reported = ['0', '1', '2', '3', '4', '5'].map((id): [string, Array<[string, string]>] => [
      `iota-dac-${id}-g1`,
      [['10m', '1Mi']],
    ]);

    // Act
    const usage = usageOfPods(metrics(...reported), pods);

    // Assess
    expect(usage.map((u) => u.name)).toEqual(['iota-dac-0-g1']);
  });

  it('throws on a quantity the API server would not send, naming it', () => {
    expect(() =>
      usageOfPods(metrics(['iota-dac-0-g1', [['lots', '1Mi']]]), [pod('iota-dac-0-g1', [undefined])]),
    ).toThrow('not a Kubernetes quantity: "lots"');
  });
});
