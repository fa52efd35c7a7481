/**
 * AWS Signature Version 4 over node:crypto, for the few AWS calls the functions make
 * without an SDK (EKS DescribeCluster and the EKS token, lib/instances/eks-auth.ts; Secrets
 * Manager, lib/secrets.ts; the MSK IAM token, lib/msk-iam.ts): a request signed in its
 * headers, or presigned in its query. @smithy/signature-v4 would do
 * the same with about 160 KB of @smithy/core in the bundle.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
import { nodeCrypto } from './lazy-crypto.js';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Where an AWS service answers in a region: `<service>.<region>.amazonaws.com`, `.amazonaws.com.cn` in China. */
export const awsServiceHost = (service: string, region: string): string =>
  `${service}.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;

export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/**
 * The credentials of the environment, as the SDK's `fromEnv` reads them (a Lambda has them), instead
 * of the SDK's whole default chain; checked now, so a process without them fails with a message
 * naming the variables, and what needs them, before any request.
 */
export function envCredentials(
  env: NodeJS.ProcessEnv = process.env,
  neededWith = 'EKS_CLUSTER_NAME',
): AwsCredentialsProvider {
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (!accessKeyId || !secretAccessKey)
    throw new Error(
      `AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (needed with ${neededWith}; a Lambda has them, ` +
        'a shell can export them with `eval "$(aws configure export-credentials --format env)"`)',
    );
  const sessionToken = env.AWS_SESSION_TOKEN?.trim();
  const expiration = env.AWS_CREDENTIAL_EXPIRATION?.trim();
  const credentials: AwsCredentials = {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken ? { sessionToken } : {}),
    ...(expiration ? { expiration: new Date(expiration) } : {}),
  };
  return async () => credentials;
}

/**
 * A token presigned with `sign`, reused until `reuseMs` have passed, or until a minute before the temporary
 * credentials it was signed with expire, whichever is first (a token signed with them dies with them);
 * concurrent callers share one signing.
 */
export function reusedToken(options: {
  readonly credentials: AwsCredentialsProvider;
  readonly reuseMs: number;
  readonly now: () => number;
  readonly sign: (credentials: AwsCredentials, signingTime: number) => string;
}): () => Promise<string> {
  let cached: { token: string; refreshAt: number } | undefined;
  let signing: Promise<string> | undefined;
  const issue = async (now: number): Promise<string> => {
    const credentials = await options.credentials();
    const token = options.sign(credentials, now);
    let refreshAt = now + options.reuseMs;
    const expiresAt = credentials.expiration?.getTime();
    if (expiresAt !== undefined && expiresAt - 60_000 > now) refreshAt = Math.min(refreshAt, expiresAt - 60_000);
    cached = { token, refreshAt };
    return token;
  };
  return async () => {
    const now = options.now();
    if (cached && now < cached.refreshAt) return cached.token;
    signing ??= issue(now).finally(() => (signing = undefined));
    return signing;
  };
}

export interface SigV4Request {
  readonly method: string;
  /** Path and query are signed as the URL holds them (already percent-encoded). */
  readonly url: URL;
  /** Headers to sign besides `host`, which comes from the URL. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Default empty. */
  readonly body?: string;
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  /** Epoch ms. */
  readonly signingTime: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/** RFC 3986 percent-encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const rfc3986 = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const sha256Hex = (data: string): string => nodeCrypto().createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer =>
  nodeCrypto().createHmac('sha256', key).update(data, 'utf8').digest();

/** 2025-05-06T07:08:09.000Z → 20250506T070809Z */
const amzDateOf = (epochMs: number): string => new Date(epochMs).toISOString().replace(/[-:]|\.\d{3}/g, '');

/** The signature of a canonical request whose query and headers are given (lower-case header names). */
function signature(
  request: SigV4Request,
  amzDate: string,
  query: ReadonlyArray<readonly [string, string]>,
  headers: Readonly<Record<string, string>>,
): { scope: string; signedHeaders: string; signature: string } {
  const scope = `${amzDate.slice(0, 8)}/${request.region}/${request.service}/aws4_request`;
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method,
    // Each segment encoded once more: SigV4 for every service but S3.
    request.url.pathname
      .split('/')
      .map((segment) => rfc3986(segment))
      .join('/') || '/',
    query
      .map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`)
      .sort()
      .join('&'),
    names.map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`).join(''),
    signedHeaders,
    sha256Hex(request.body ?? ''),
  ].join('\n');
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const { secretAccessKey } = request.credentials;
  const key = hmac(
    hmac(hmac(hmac(`AWS4${secretAccessKey}`, amzDate.slice(0, 8)), request.region), request.service),
    'aws4_request',
  );
  return {
    scope,
    signedHeaders,
    signature: nodeCrypto().createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex'),
  };
}

const lowerCased = (headers: Readonly<Record<string, string>> = {}): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

/** The headers to send: the request's, `host`, `x-amz-date`, `x-amz-security-token` and `authorization`. */
export function signRequest(request: SigV4Request): Record<string, string> {
  const { credentials } = request;
  const amzDate = amzDateOf(request.signingTime);
  const headers: Record<string, string> = {
    ...lowerCased(request.headers),
    host: request.url.host,
    'x-amz-date': amzDate,
    ...(credentials.sessionToken ? { 'x-amz-security-token': credentials.sessionToken } : {}),
  };
  const signed = signature(request, amzDate, [...request.url.searchParams], headers);
  return {
    ...headers,
    authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${signed.scope}, SignedHeaders=${signed.signedHeaders}, Signature=${signed.signature}`,
  };
}

/** The URL with its signature in the query (`X-Amz-*`), valid for `expiresSeconds` from the signing time. */
export function presignUrl(request: SigV4Request, expiresSeconds: number): URL {
  const { credentials } = request;
  const amzDate = amzDateOf(request.signingTime);
  const headers = { ...lowerCased(request.headers), host: request.url.host };
  const url = new URL(request.url);
  const scope = `${amzDate.slice(0, 8)}/${request.region}/${request.service}/aws4_request`;
  url.searchParams.set('X-Amz-Algorithm', ALGORITHM);
  url.searchParams.set('X-Amz-Credential', `${credentials.accessKeyId}/${scope}`);
  url.searchParams.set('X-Amz-Date', amzDate);
  url.searchParams.set('X-Amz-Expires', String(expiresSeconds));
  if (credentials.sessionToken) url.searchParams.set('X-Amz-Security-Token', credentials.sessionToken);
  url.searchParams.set('X-Amz-SignedHeaders', Object.keys(headers).sort().join(';'));
  url.searchParams.set(
    'X-Amz-Signature',
    signature({ ...request, url }, amzDate, [...url.searchParams], headers).signature,
  );
  return url;
}
