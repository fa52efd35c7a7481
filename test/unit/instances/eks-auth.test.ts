import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeClusterOverHttps,
  EksAuth,
  EKS_TOKEN_PREFIX,
  envCredentials,
  presignEksToken,
  TOKEN_REFRESH_AFTER_MS,
  type AwsCredentials,
} from '../../../lib/instances/eks-auth.js';
import { EXAMPLE_CREDENTIALS, EXAMPLE_SIGNING_TIME, expectedPresignedSignature } from '../../support/sigv4-oracle.js';

const CREDENTIALS = EXAMPLE_CREDENTIALS;
const SIGNING_TIME = EXAMPLE_SIGNING_TIME;

const decode = (token: string): URL =>
  new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8'));

/** SigV4 of the token's presigned GET, recomputed independently of the signer under test. */
const expectedSignature = (url: URL, clusterName: string, secretAccessKey: string): string =>
  expectedPresignedSignature(url, { host: url.host, 'x-k8s-aws-id': clusterName }, secretAccessKey);

describe('EKS bearer token', () => {
  it('is k8s-aws-v1. and the unpadded base64url of a presigned STS GetCallerIdentity URL', async () => {
    // Act
    const token = presignEksToken({
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
    const token = presignEksToken({
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
    const token = presignEksToken({
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

/** SigV4 of a request signed in its headers, recomputed from what the server received. */
function expectedHeaderSignature(method: string, path: string, headers: IncomingHttpHeaders, secretAccessKey: string) {
  const authorization = String(headers.authorization);
  const [, date, region, service, signedHeaders] =
    /Credential=[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=/.exec(authorization)!;
  const names = signedHeaders!.split(';');
  const canonicalRequest = [
    method,
    path,
    '',
    names.map((name) => `${name}:${String(headers[name]).trim()}\n`).join(''),
    signedHeaders,
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    String(headers['x-amz-date']),
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region!), service!), 'aws4_request');
  return {
    scope,
    signedHeaders: names,
    signature: createHmac('sha256', signingKey).update(stringToSign).digest('hex'),
    received: /Signature=([0-9a-f]+)$/.exec(authorization)?.[1],
  };
}

describe('DescribeCluster over HTTPS', () => {
  const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  /** An EKS API on a local port answering every request with `status` and `body`; records what it received. */
  const fakeEks = async (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const received: Array<{ method: string; path: string; headers: IncomingHttpHeaders }> = [];
    server = createServer((request, response) => {
      received.push({ method: request.method!, path: request.url!, headers: request.headers });
      response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const describe = describeClusterOverHttps({
      region: 'eu-west-1',
      credentials: async () => CREDENTIALS,
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      now: () => SIGNING_TIME,
    });
    return { describe, received };
  };

  it('reads the endpoint and CA of the cluster with a request SigV4-signed for eks', async () => {
    // Prepare
    const { describe, received } = await fakeEks(200, {
      cluster: {
        name: 'iota-prod',
        status: 'ACTIVE',
        endpoint: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com',
        certificateAuthority: { data: Buffer.from(CA_PEM).toString('base64') },
      },
    });

    // Act
    const cluster = await describe('iota-prod');

    // Assess
    expect(cluster).toEqual({ server: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com', caPem: CA_PEM });
    const [request] = received;
    expect(request).toMatchObject({ method: 'GET', path: '/clusters/iota-prod' });
    expect(request!.headers['x-amz-security-token']).toBe(CREDENTIALS.sessionToken);
    const signature = expectedHeaderSignature(
      'GET',
      '/clusters/iota-prod',
      request!.headers,
      CREDENTIALS.secretAccessKey,
    );
    expect(signature.scope).toBe('20250506/eu-west-1/eks/aws4_request');
    expect(signature.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']));
    expect(signature.received).toBe(signature.signature);
  });

  it('names the AWS error type and message when EKS refuses', async () => {
    // Prepare
    const { describe } = await fakeEks(
      404,
      { message: 'No cluster found for name: iota-nope.' },
      { 'x-amzn-errortype': 'ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.eks/' },
    );

    // Act
    const failure = await describe('iota-nope').catch((error: unknown) => error);

    // Assess
    expect((failure as Error).message).toMatch(
      /^EKS DescribeCluster iota-nope \(127\.0\.0\.1:\d+\) failed: ResourceNotFoundException: No cluster found for name: iota-nope\.$/,
    );
  });

  it('refuses a cluster that has no endpoint yet, naming its status', async () => {
    // Prepare
    const { describe } = await fakeEks(200, { cluster: { name: 'iota-new', status: 'CREATING' } });

    // Act
    const failure = await describe('iota-new').catch((error: unknown) => error);

    // Assess
    expect((failure as Error).message).toBe(
      'EKS cluster iota-new has no endpoint or certificate authority yet (status CREATING)',
    );
  });
});

describe('credentials of the environment', () => {
  it('are the access key, secret and session token a Lambda is given', async () => {
    // Act
    const credentials = await envCredentials({
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
    })();

    // Assess
    expect(credentials).toEqual({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' });
  });

  it('are refused at once when missing, naming the variables', () => {
    expect(() => envCredentials({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' })).toThrow(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set',
    );
  });
});
