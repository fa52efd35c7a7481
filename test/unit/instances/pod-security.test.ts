/**
 * The iota namespace enforces the "restricted" Pod Security Standard, so a
 * pod template below it would be refused by the API server at every create.
 * The checks are the standard's, as the Kubernetes documentation lists them
 * (baseline included): they read the manifests as shipped in infra/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../handlers/fixtures.js';

type Doc = Record<string, unknown>;
const TEMPLATES_DIR = join(REPO_ROOT, 'infra', 'templates');
const templateNames = readdirSync(TEMPLATES_DIR).sort();
const readYaml = (path: string): Doc => parse(readFileSync(path, 'utf8')) as Doc;
const object = (value: unknown): Doc => (value && typeof value === 'object' ? (value as Doc) : {});
const list = (value: unknown): Doc[] => (Array.isArray(value) ? value.map(object) : []);

/** What keeps a pod spec from passing Pod Security Admission at level "restricted"; [] when it passes. */
function restrictedViolations(pod: Doc): string[] {
  const spec = object(pod.spec);
  const podContext = object(spec.securityContext);
  const containers = [...list(spec.containers), ...list(spec.initContainers), ...list(spec.ephemeralContainers)];
  const problems: string[] = [];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (spec[field] === true) problems.push(`spec.${field} is true`);
  for (const volume of list(spec.volumes)) if (volume.hostPath) problems.push(`volume ${volume.name} is a hostPath`);
  const seccompOf = (context: Doc): unknown => object(context.seccompProfile).type;
  if (podContext.runAsUser === 0) problems.push('spec.securityContext.runAsUser is 0');
  for (const container of containers) {
    const name = String(container.name);
    const context = object(container.securityContext);
    const capabilities = object(context.capabilities);
    if (context.privileged === true) problems.push(`${name}: privileged`);
    if (context.allowPrivilegeEscalation !== false) problems.push(`${name}: allowPrivilegeEscalation is not false`);
    if (!(Array.isArray(capabilities.drop) && capabilities.drop.includes('ALL')))
      problems.push(`${name}: capabilities.drop lacks ALL`);
    for (const added of Array.isArray(capabilities.add) ? capabilities.add : [])
      if (added !== 'NET_BIND_SERVICE') problems.push(`${name}: adds capability ${added}`);
    if ((context.runAsNonRoot ?? podContext.runAsNonRoot) !== true) problems.push(`${name}: runAsNonRoot is not true`);
    if (context.runAsUser === 0) problems.push(`${name}: runAsUser is 0`);
    const seccomp = seccompOf(context) ?? seccompOf(podContext);
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${name}: seccompProfile is ${String(seccomp)}, not RuntimeDefault or Localhost`);
    for (const port of list(container.ports))
      if (port.hostPort !== undefined && port.hostPort !== 0) problems.push(`${name}: hostPort ${port.hostPort}`);
  }
  if (containers.length === 0) problems.push('no containers');
  return problems;
}

describe('Pod Security Standard "restricted"', () => {
  it('is enforced on the iota namespace', () => {
    const namespace = readYaml(join(REPO_ROOT, 'infra', 'k8s', 'namespace.yaml'));

    expect(namespace).toMatchObject({
      kind: 'Namespace',
      metadata: { name: 'iota', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    });
  });

  it('ships a template for every default kind', () => {
    expect(templateNames).toEqual(['iota-dac', 'iota-rules-engine']);
  });

  it.each(templateNames)('passes with the %s pod template', (name) => {
    const template = readYaml(join(TEMPLATES_DIR, name, 'pod-template.yml'));

    expect(restrictedViolations(template)).toEqual([]);
  });

  it('fails a template that keeps its privileges or runs as root', () => {
    const template = readYaml(join(TEMPLATES_DIR, 'iota-dac', 'pod-template.yml'));
    const spec = object(template.spec);
    const [container] = list(spec.containers);
    const loose = {
      ...template,
      spec: {
        ...spec,
        securityContext: { runAsUser: 0 },
        containers: [{ ...container, securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }],
      },
    };

    expect(restrictedViolations(loose)).toEqual([
      'spec.securityContext.runAsUser is 0',
      'iota-dac: allowPrivilegeEscalation is not false',
      'iota-dac: capabilities.drop lacks ALL',
      'iota-dac: adds capability SYS_ADMIN',
      'iota-dac: runAsNonRoot is not true',
      'iota-dac: seccompProfile is undefined, not RuntimeDefault or Localhost',
    ]);
  });
});
