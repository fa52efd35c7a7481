/**
 * Authentication to an EKS cluster from a Lambda role, without kubeconfig or the aws CLI:
 * endpoint and CA from `DescribeCluster`, and the bearer token `aws eks get-token` makes:
 * `k8s-aws-v1.` + base64url(presigned STS GetCallerIdentity URL), the cluster name bound
 * in the signed header `x-k8s-aws-id`. EKS accepts such a token for 15 minutes after its
 * signing time (whatever X-Amz-Expires says), so it is cached and re-signed before that.
 */
import { systemClock } from '../clock.js';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** One minute short of the 15-minute validity, so a token never expires in flight. */
export const TOKEN_REFRESH_AFTER_MS = 14 * 60_000;

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

export interface EksTokenRequest {
  readonly clusterName: string;
  readonly region: string;
  readonly credentials: AwsCredentials;
  /** Signing time, epoch ms. */
  readonly signingTime: number;
}

const stsHost = (region: string): string =>
  `sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;

/** The token for one signing time; deterministic for fixed credentials and time. */
export async function presignEksToken(request: EksTokenRequest): Promise<string> {
  const hostname = stsHost(request.region);
  const signer = new SignatureV4({
    service: 'sts',
    region: request.region,
    credentials: request.credentials,
    sha256: Sha256,
  });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, [CLUSTER_ID_HEADER]: request.clusterName },
    },
    { expiresIn: 60, signingDate: new Date(request.signingTime) },
  );
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(presigned.query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== null) query.append(key, item);
  }
  const url = `https://${hostname}/?${query.toString()}`;
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

export interface ClusterEndpoint {
  /** `https://…` API server URL. */
  readonly server: string;
  readonly caPem: string;
}
export type DescribeCluster = (clusterName: string) => Promise<ClusterEndpoint>;

/** DescribeCluster through the AWS SDK, loaded on first use so static-token setups never load it. */
export function describeClusterWithSdk(region: string): DescribeCluster {
  return async (clusterName) => {
    const { EKSClient, DescribeClusterCommand } = await import('@aws-sdk/client-eks');
    const client = new EKSClient({ region });
    try {
      const { cluster } = await client.send(new DescribeClusterCommand({ name: clusterName }));
      const server = cluster?.endpoint;
      const caData = cluster?.certificateAuthority?.data;
      if (!server || !caData) {
        throw new Error(
          `EKS cluster ${clusterName} has no endpoint or certificate authority yet (status ${cluster?.status})`,
        );
      }
      return { server, caPem: Buffer.from(caData, 'base64').toString('utf8') };
    } finally {
      client.destroy();
    }
  };
}

export const defaultAwsCredentials = (): AwsCredentialsProvider => {
  let provider: AwsCredentialsProvider | undefined;
  return async () => {
    if (!provider) {
      const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
      provider = defaultProvider();
    }
    return provider();
  };
};

export interface EksAuthOptions {
  readonly clusterName: string;
  readonly region: string;
  readonly credentials?: AwsCredentialsProvider;
  readonly describeCluster?: DescribeCluster;
  /** Epoch ms; injected by tests. */
  readonly now?: () => number;
  readonly refreshAfterMs?: number;
}

export class EksAuth {
  readonly clusterName: string;
  readonly region: string;
  private readonly credentials: AwsCredentialsProvider;
  private readonly describe: DescribeCluster;
  private readonly now: () => number;
  private readonly refreshAfterMs: number;
  private cached: { token: string; refreshAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;
  private endpoint: Promise<ClusterEndpoint> | undefined;

  constructor(options: EksAuthOptions) {
    this.clusterName = options.clusterName;
    this.region = options.region;
    this.credentials = options.credentials ?? defaultAwsCredentials();
    this.describe = options.describeCluster ?? describeClusterWithSdk(options.region);
    this.now = options.now ?? systemClock;
    this.refreshAfterMs = options.refreshAfterMs ?? TOKEN_REFRESH_AFTER_MS;
  }

  /** Endpoint and CA, fetched once per process (they do not change for a cluster's life). */
  cluster(): Promise<ClusterEndpoint> {
    if (!this.endpoint) {
      this.endpoint = this.describe(this.clusterName);
      this.endpoint.catch(() => (this.endpoint = undefined));
    }
    return this.endpoint;
  }

  /** A valid token: the cached one until its refresh time, else a fresh one (concurrent callers share it). */
  async token(): Promise<string> {
    const now = this.now();
    if (this.cached && now < this.cached.refreshAt) return this.cached.token;
    this.pendingToken ??= this.issue(now).finally(() => (this.pendingToken = undefined));
    return this.pendingToken;
  }

  private async issue(now: number): Promise<string> {
    const credentials = await this.credentials();
    const token = await presignEksToken({
      clusterName: this.clusterName,
      region: this.region,
      credentials,
      signingTime: now,
    });
    let refreshAt = now + this.refreshAfterMs;
    // A token signed with temporary credentials dies with them.
    const expiresAt = credentials.expiration?.getTime();
    if (expiresAt !== undefined && expiresAt - 60_000 > now) refreshAt = Math.min(refreshAt, expiresAt - 60_000);
    this.cached = { token, refreshAt };
    return token;
  }
}
