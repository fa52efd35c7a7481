import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kubernetesRuntimeFromEnv } from '../../../lib/instances/kubernetes.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const STATIC = { K8S_SERVER: 'https://k8s.example:6443', K8S_TOKEN: 't0ken', K8S_CA_DATA: CA };

describe('kubernetesRuntimeFromEnv', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['K8S_SERVER', {}],
    ['K8S_TOKEN', { ...STATIC, K8S_TOKEN: '' }],
    ['K8S_CA_FILE or K8S_CA_DATA', { ...STATIC, K8S_CA_DATA: undefined }],
    ['K8S_CA_DATA is neither PEM', { ...STATIC, K8S_CA_DATA: 'bm90IGEgY2VydA==' }],
    ['K8S_CA_FILE cannot be read', { ...STATIC, K8S_CA_DATA: undefined, K8S_CA_FILE: '/nonexistent/ca.pem' }],
    ['K8S_SERVER must be an https URL', { ...STATIC, K8S_SERVER: 'http://k8s.example:8080' }],
    ['K8S_SERVER is not a URL', { ...STATIC, K8S_SERVER: 'k8s.example' }],
    ['AWS_REGION', { EKS_CLUSTER_NAME: 'iota-prod' }],
    ['AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY', { EKS_CLUSTER_NAME: 'iota-prod', AWS_REGION: 'eu-west-1' }],
  ])('refuses to start without a usable %s', (variable, env) => {
    expect(() => kubernetesRuntimeFromEnv(env)).toThrow(variable);
  });

  it('uses a static server, token and CA file in the configured namespace', () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'k8s-env-'));
    writeFileSync(join(dir, 'ca.pem'), CA);

    // Act
    const runtime = kubernetesRuntimeFromEnv({
      ...STATIC,
      K8S_CA_DATA: undefined,
      K8S_CA_FILE: join(dir, 'ca.pem'),
      K8S_NAMESPACE: 'iota-test',
    });

    // Assess
    expect(runtime.namespace).toBe('iota-test');
    expect(runtime.description).toBe('kubernetes k8s.example:6443 namespace iota-test');
  });

  it('accepts base64 CA data as kubeconfig carries it', () => {
    // Act
    const runtime = kubernetesRuntimeFromEnv({ ...STATIC, K8S_CA_DATA: Buffer.from(CA).toString('base64') });

    // Assess
    expect(runtime.namespace).toBe('iota');
  });

  it('prefers EKS when a cluster name is set', () => {
    // Act
    const runtime = kubernetesRuntimeFromEnv({
      ...STATIC,
      EKS_CLUSTER_NAME: 'iota-prod',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });

    // Assess
    expect(runtime.description).toBe('kubernetes EKS cluster iota-prod namespace iota');
  });
});
