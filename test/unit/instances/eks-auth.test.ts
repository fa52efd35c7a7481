import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EksAuth,
  EKS_TOKEN_PREFIX,
  presignEksToken,
  TOKEN_REFRESH_AFTER_MS,
  type AwsCredentials,
} from '../../../lib/instances/eks-auth.js';

const CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'FwoGZXIvYXdzE+session/token==',
};
const SIGNING_TIME = Date.UTC(2025, 4, 6, 7, 8, 9);

const decode = (token: string): URL =>
  new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8'));

/** SigV4 of a presigned GET recomputed from its URL, independently of the signer under test. */
function expectedSignature(url: URL, clusterName: string, secretAccessKey: string): string {
  const rfc3986 = (text: string): string =>
    encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = [...url.searchParams.entries()]
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`)
    .sort()
    .join('&');
  const canonicalRequest = [
    'GET',
    '/',
    query,
    `host:${url.host}\nx-k8s-aws-id:${clusterName}\n`,
    'host;x-k8s-aws-id',
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const [, date, region, service] = /^[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(
    url.searchParams.get('X-Amz-Credential')!,
  )!;
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex');
}

describe('EKS bearer token', () => {
  it('is k8s-aws-v1. and the unpadded base64url of a presigned STS GetCallerIdentity URL', async () => {
    // Act
    const token = await presignEksToken({
      clusterName: 'iota-prod',
      region: 'eu-west-1',
      credentials: CREDENTIALS,
      signingTime: SIGNING_TIME,
    });

    // Assess
    expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
    expect(token.slice(EKS_TOKEN_PREFIX.length)).toMatch(/^[A-Za-z0-9_-]+$/);
    const url = decode(token);
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('https://sts.eu-west-1.amazonaws.com/');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: 'GetCallerIdentity',
      Version: '2011-06-15',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIDEXAMPLE/20250506/eu-west-1/sts/aws4_request',
      'X-Amz-Date': '20250506T070809Z',
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
      'X-Amz-Security-Token': CREDENTIALS.sessionToken,
    });
  });

  it('carries a valid SigV4 signature binding the cluster name', async () => {
    // Act
    const token = await presignEksToken({
      clusterName: 'iota-prod',
      region: 'eu-west-1',
      credentials: CREDENTIALS,
      signingTime: SIGNING_TIME,
    });

    // Assess
    const url = decode(token);
    const signature = url.searchParams.get('X-Amz-Signature');
    expect(signature).toBe(expectedSignature(url, 'iota-prod', CREDENTIALS.secretAccessKey));
    expect(signature).not.toBe(expectedSignature(url, 'another-cluster', CREDENTIALS.secretAccessKey));
  });

  it('uses the China partition STS host in cn- regions', async () => {
    // Act
    const token = await presignEksToken({
      clusterName: 'c',
      region: 'cn-north-1',
      credentials: CREDENTIALS,
      signingTime: SIGNING_TIME,
    });

    // Assess
    expect(decode(token).host).toBe('sts.cn-north-1.amazonaws.com.cn');
  });
});

describe('EksAuth', () => {
  const setup = (credentials: AwsCredentials = CREDENTIALS) => {
    const clock = { now: SIGNING_TIME };
    let credentialCalls = 0;
    const described: string[] = [];
    const auth = new EksAuth({
      clusterName: 'iota-prod',
      region: 'eu-west-1',
      now: () => clock.now,
      credentials: async () => {
        credentialCalls++;
        return credentials;
      },
      describeCluster: async (name) => {
        described.push(name);
        if (described.length === 1) throw new Error('throttled');
        return { server: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com', caPem: '-----BEGIN CERTIFICATE-----' };
      },
    });
    return { auth, clock, described, signings: () => credentialCalls };
  };

  it('reuses its token until 14 minutes have passed, then signs a new one', async () => {
    // Prepare
    const { auth, clock } = setup();
    const first = await auth.token();

    // Act
    clock.now += TOKEN_REFRESH_AFTER_MS - 1;
    const beforeRefresh = await auth.token();
    clock.now += 1;
    const afterRefresh = await auth.token();

    // Assess
    expect(TOKEN_REFRESH_AFTER_MS).toBe(14 * 60_000);
    expect(beforeRefresh).toBe(first);
    expect(afterRefresh).not.toBe(first);
    expect(decode(afterRefresh).searchParams.get('X-Amz-Date')).toBe('20250506T072209Z');
  });

  it('signs once for concurrent callers', async () => {
    // Prepare
    const { auth, signings } = setup();

    // Act
    const tokens = await Promise.all([auth.token(), auth.token(), auth.token()]);

    // Assess
    expect(new Set(tokens).size).toBe(1);
    expect(signings()).toBe(1);
  });

  it('signs again before the temporary credentials it used expire', async () => {
    // Prepare
    const { auth, clock } = setup({ ...CREDENTIALS, expiration: new Date(SIGNING_TIME + 5 * 60_000) });
    const first = await auth.token();

    // Act
    clock.now += 4 * 60_000;
    const renewed = await auth.token();

    // Assess
    expect(renewed).not.toBe(first);
  });

  it('describes the cluster once, and again only after a failure', async () => {
    // Prepare
    const { auth, described } = setup();

    // Act
    const failure = await auth.cluster().catch((e: unknown) => e);
    const endpoint = await auth.cluster();
    await auth.cluster();

    // Assess
    expect((failure as Error).message).toBe('throttled');
    expect(endpoint.server).toBe('https://ABC.gr7.eu-west-1.eks.amazonaws.com');
    expect(described).toEqual(['iota-prod', 'iota-prod']);
  });
});
