import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_KINDS, type KindConfig } from '../../../lib/config/kinds.js';
import {
  compiledPodTemplates,
  defaultTemplatesDir,
  loadPodTemplate,
  parsePodTemplate,
  PodTemplateError,
  podTemplateLoader,
  renderPod,
  templatesDirFromEnv,
} from '../../../lib/instances/pod-template.js';
import { compilePodTemplates, podTemplatesPlugin } from '../../../lib/instances/pod-template-compile.js';
import { podName } from '../../../lib/instances/port.js';

const [THING] = DEFAULT_KINDS as [KindConfig, KindConfig];

const TEMPLATE = `
apiVersion: v1
kind: Pod
metadata:
  name: placeholder
  namespace: elsewhere
  labels: { app: old, team: iot, instanceId: "99" }
spec:
  terminationGracePeriodSeconds: 45
  containers:
    - name: worker
      image: repository/iota-dac:latest
      env:
        - { name: INSTANCE_ID, value: "0" }
        - { name: OTHER, value: kept }
`;

const errorOf = async (text: string): Promise<PodTemplateError> => {
  try {
    await parsePodTemplate(text, 'test.yml');
  } catch (error) {
    return error as PodTemplateError;
  }
  throw new Error('the template was accepted');
};

describe('renderPod', () => {
  it('sets the name, namespace, labels and first env var the workers rely on, keeping the rest', async () => {
    // Prepare
    const template = await parsePodTemplate(TEMPLATE, 'test.yml');

    // Act
    const pod = renderPod(template, { kind: THING, instanceId: '4', name: podName(THING, '4', 2) });

    // Assess
    expect(pod.metadata).toEqual({
      name: 'iota-dac-4-g2',
      namespace: 'iota',
      labels: { app: 'iota-dac', team: 'iot', resource: 'Thing', instanceId: '4' },
    });
    expect(pod.spec.terminationGracePeriodSeconds).toBe(45);
    expect(pod.spec.containers[0]!.env).toEqual([
      { name: 'INSTANCE_ID', value: '4' },
      { name: 'OTHER', value: 'kept' },
    ]);
  });

  it('uses the configured namespace', async () => {
    // Act
    const pod = renderPod(
      await parsePodTemplate(TEMPLATE, 'test.yml'),
      { kind: THING, instanceId: '0', name: 'p' },
      'iota-staging',
    );

    // Assess
    expect(pod.metadata.namespace).toBe('iota-staging');
  });

  it('leaves the template untouched, so one cached template renders every pod', async () => {
    // Prepare
    const template = await parsePodTemplate(TEMPLATE, 'test.yml');
    const pristine = structuredClone(template);

    // Act
    const first = renderPod(template, { kind: THING, instanceId: '1', name: 'a' });
    const second = renderPod(template, { kind: THING, instanceId: '2', name: 'b' });

    // Assess
    expect(template).toEqual(pristine);
    expect(first.spec.containers[0]!.env![0]!.value).toBe('1');
    expect(first.metadata.labels.instanceId).toBe('1');
    expect(second.spec.containers[0]!.env![0]!.value).toBe('2');
  });
});

describe('parsePodTemplate', () => {
  it.each([
    ['kind: Deployment', TEMPLATE.replace('kind: Pod', 'kind: Deployment'), 'kind'],
    ['no containers', TEMPLATE.replace(/containers:[\s\S]*$/, 'containers: []'), 'spec.containers'],
    ['no image', TEMPLATE.replace('image: repository/iota-dac:latest', ''), 'spec.containers[0].image'],
    ['no env', TEMPLATE.replace(/env:[\s\S]*$/, ''), 'spec.containers[0].env'],
    [
      'valueFrom in the instance id var',
      TEMPLATE.replace(
        '- { name: INSTANCE_ID, value: "0" }',
        '- { name: INSTANCE_ID, valueFrom: { fieldRef: { fieldPath: metadata.name } } }',
      ),
      'spec.containers[0].env[0].valueFrom',
    ],
    ['a non-string label', TEMPLATE.replace('team: iot', 'team: 7'), 'metadata.labels.team'],
    ['broken YAML', 'kind: [Pod', '(root)'],
  ])('rejects a template with %s, naming the field', async (_case, text, field) => {
    // Act
    const error = await errorOf(text);

    // Assess
    expect(error).toBeInstanceOf(PodTemplateError);
    expect(error.field).toBe(field);
    expect(error.message).toContain(`pod template test.yml: ${field}:`);
  });
});

describe('packaged templates', () => {
  it.each(DEFAULT_KINDS.map((kind) => [kind.resource, kind] as const))(
    'the %s template renders a pod for namespace iota',
    async (_resource, kind) => {
      // Act
      const template = await loadPodTemplate(kind, defaultTemplatesDir());
      const pod = renderPod(template, { kind, instanceId: '0', name: podName(kind, '0', 1) });

      // Assess
      expect(template.metadata?.namespace).toBe('iota');
      const container = pod.spec.containers[0]!;
      expect(container.image).toBe(`repository/${kind.instanceName}:latest`);
      expect(container.env![0]).toEqual({ name: 'INSTANCE_ID', value: '0' });
      expect(container.resources).toMatchObject({
        requests: { cpu: expect.any(String) },
        limits: { memory: expect.any(String) },
      });
      expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(0);
    },
  );

  it('are found in infra/templates by default and in ORCH_TEMPLATES_DIR when set', () => {
    expect(templatesDirFromEnv({})).toBe(resolve('infra/templates'));
    expect(templatesDirFromEnv({ ORCH_TEMPLATES_DIR: 'some/where' })).toBe(resolve('some/where'));
  });
});

describe('podTemplateLoader', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('names the missing file, and picks the template up once it is there', async () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'templates-'));
    const load = podTemplateLoader(dir);
    const missing = await load(THING).catch((e: unknown) => e);
    mkdirSync(join(dir, 'iota-dac'));
    writeFileSync(join(dir, 'iota-dac', 'pod-template.yml'), TEMPLATE);

    // Act
    const template = await load(THING);

    // Assess
    expect((missing as Error).message).toContain(join(dir, 'iota-dac', 'pod-template.yml'));
    expect(template.spec.containers[0]!.name).toBe('worker');
  });
});

describe('templates compiled at build time', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it.each(DEFAULT_KINDS.map((kind) => [kind.resource, kind] as const))(
    'the %s template compiled into a bundle is the one its file gives',
    async (_resource, kind) => {
      // Act
      const compiled = await compiledPodTemplates(compilePodTemplates(defaultTemplatesDir()))(kind);

      // Assess
      expect(compiled).toEqual(await loadPodTemplate(kind, defaultTemplatesDir()));
    },
  );

  it('names a kind whose template was not compiled in', async () => {
    // Act
    const missing = await compiledPodTemplates({})(THING).catch((e: unknown) => e);

    // Assess
    expect(missing).toBeInstanceOf(PodTemplateError);
    expect((missing as Error).message).toBe(
      `pod template ${join('infra', 'templates', 'iota-dac', 'pod-template.yml')} (compiled into the bundle): (root): no such template was compiled into the bundle`,
    );
  });

  it('fails the build on an invalid template, naming the file and the field', async () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'templates-'));
    mkdirSync(join(dir, 'iota-dac'));
    writeFileSync(join(dir, 'iota-dac', 'pod-template.yml'), TEMPLATE.replace('image: repository/iota-dac:latest', ''));

    // Act
    const failure = await build({
      entryPoints: [resolve('lib/instances/compiled-pod-templates.ts')],
      bundle: true,
      write: false,
      logLevel: 'silent',
      plugins: [podTemplatesPlugin(dir)],
    }).catch((e: unknown) => e);

    // Assess
    expect(String(failure)).toContain(
      `pod template ${join(dir, 'iota-dac', 'pod-template.yml')}: spec.containers[0].image:`,
    );
  });
});
