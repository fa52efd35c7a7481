/**
 * Authentication to an EKS cluster from a Lambda role, without kubeconfig or the aws CLI:
 * endpoint and CA from `DescribeCluster`, and the bearer token `aws eks get-token` makes:
 * `k8s-aws-v1.` + base64url(presigned STS GetCallerIdentity URL), the cluster name bound
 * in the signed header `x-k8s-aws-id`. EKS accepts such a token for 15 minutes after its
 * signing time (whatever X-Amz-Expires says), so it is cached and re-signed before that.
 *
 * Both are SigV4 signatures of one request (lib/aws-sigv4.ts) sent over `node:https`, with the
 * credentials of the environment (a Lambda's own): `@aws-sdk/client-eks`, the SDK's default
 * credential chain and @smithy/signature-v4 were about 640 KB of the reconcile bundle for one
 * GET and one signature (README, "Bundles").
 */
import { type AwsHttpResponse, parseJsonOrUndefined, sendAwsRequest } from '../aws-http.js';
import {
  type AwsCredentials,
  type AwsCredentialsProvider,
  awsServiceHost,
  envCredentials,
  reusedToken,
  presignUrl,
  signRequest,
} from '../aws-sigv4.js';
import { systemClock } from '../clock.js';

export { type AwsCredentials, type AwsCredentialsProvider, envCredentials } from '../aws-sigv4.js';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** One minute short of the 15-minute validity, so a token never expires in flight. */
export const TOKEN_REFRESH_AFTER_MS = 14 * 60_000;

export interface EksTokenRequest {
  readonly clusterName: string;
  readonly region: string;
  readonly credentials: AwsCredentials;
  /** Signing time, epoch ms. */
  readonly signingTime: number;
}

/** The token for one signing time; deterministic for fixed credentials and time. */
export function presignEksToken(request: EksTokenRequest): string {
  const url = presignUrl(
    {
      method: 'GET',
      url: new URL(`https://${awsServiceHost('sts', request.region)}/?Action=GetCallerIdentity&Version=2011-06-15`),
      headers: { [CLUSTER_ID_HEADER]: request.clusterName },
      region: request.region,
      service: 'sts',
      credentials: request.credentials,
      signingTime: request.signingTime,
    },
    60,
  );
  return EKS_TOKEN_PREFIX + Buffer.from(url.toString(), 'utf8').toString('base64url');
}

export interface ClusterEndpoint {
  /** `https://…` API server URL. */
  readonly server: string;
  readonly caPem: string;
}
export type DescribeCluster = (clusterName: string) => Promise<ClusterEndpoint>;

export interface DescribeClusterOptions {
  readonly region: string;
  readonly credentials: AwsCredentialsProvider;
  /** Default `https://eks.<region>.amazonaws.com` (`.amazonaws.com.cn` in China). */
  readonly endpoint?: string;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Signing time, epoch ms. */
  readonly now?: () => number;
}

/** `GET /clusters/<name>` of the EKS API, signed with SigV4: endpoint and CA of the cluster. */
export function describeClusterOverHttps(options: DescribeClusterOptions): DescribeCluster {
  const base = new URL(options.endpoint ?? `https://${awsServiceHost('eks', options.region)}`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const now = options.now ?? systemClock;
  return async (clusterName) => {
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}/clusters/${encodeURIComponent(clusterName)}`, base);
    const what = `EKS DescribeCluster ${clusterName} (${url.host})`;
    const headers = signRequest({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      region: options.region,
      service: 'eks',
      credentials: await options.credentials(),
      signingTime: now(),
    });
    let response: AwsHttpResponse;
    try {
      response = await sendAwsRequest(url, { method: 'GET', headers, timeoutMs });
    } catch (error) {
      throw new Error(`${what} failed: ${(error as Error).message}`, { cause: error });
    }
    const json = parseJsonOrUndefined(response.body) as
      | {
          message?: unknown;
          cluster?: { endpoint?: unknown; status?: unknown; certificateAuthority?: { data?: unknown } };
        }
      | undefined;
    if (response.status !== 200) {
      // The error type comes as `x-amzn-errortype: ResourceNotFoundException:http://…`.
      const type = response.errorType?.split(':')[0] || `HTTP ${response.status}`;
      const message = typeof json?.message === 'string' ? `: ${json.message}` : '';
      throw new Error(`${what} failed: ${type}${message}`);
    }
    const cluster = json?.cluster;
    const server = cluster?.endpoint;
    const caData = cluster?.certificateAuthority?.data;
    if (typeof server !== 'string' || !server || typeof caData !== 'string' || !caData) {
      throw new Error(
        `EKS cluster ${clusterName} has no endpoint or certificate authority yet (status ${String(cluster?.status)})`,
      );
    }
    return { server, caPem: Buffer.from(caData, 'base64').toString('utf8') };
  };
}

export interface EksAuthOptions {
  readonly clusterName: string;
  readonly region: string;
  /** Default: the process environment's (`envCredentials`). */
  readonly credentials?: AwsCredentialsProvider;
  /** Default: `describeClusterOverHttps` with these credentials, at `endpoint`. */
  readonly describeCluster?: DescribeCluster;
  /** The EKS API; default `https://eks.<region>.amazonaws.com`. */
  readonly endpoint?: string;
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
  private readonly tokens: () => Promise<string>;
  private endpoint: Promise<ClusterEndpoint> | undefined;

  constructor(options: EksAuthOptions) {
    this.clusterName = options.clusterName;
    this.region = options.region;
    this.credentials = options.credentials ?? envCredentials();
    this.now = options.now ?? systemClock;
    this.describe =
      options.describeCluster ??
      describeClusterOverHttps({
        region: options.region,
        credentials: this.credentials,
        now: this.now,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
    this.tokens = reusedToken({
      credentials: this.credentials,
      reuseMs: options.refreshAfterMs ?? TOKEN_REFRESH_AFTER_MS,
      now: this.now,
      sign: (credentials, signingTime) =>
        presignEksToken({ clusterName: this.clusterName, region: this.region, credentials, signingTime }),
    });
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
  token(): Promise<string> {
    return this.tokens();
  }
}
