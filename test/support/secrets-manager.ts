/**
 * A local stand-in for AWS Secrets Manager's GetSecretValue (JSON 1.1 over HTTP), strict about the request as
 * AWS is: POST /, content type application/x-amz-json-1.1, X-Amz-Target secretsmanager.GetSecretValue, a body of
 * exactly {"SecretId"}, and a SigV4 Authorization for the expected access key, region and service whose signature
 * @smithy/signature-v4 (the AWS SDK's own signer) computes the same from the request as received. A request that
 * fails any of these is answered with AWS's error type and recorded with the reason, so a test can say which.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AwsCredentials } from '../../lib/aws-sigv4.js';

export interface SecretsManagerRequest {
  /** The SecretId asked for, once the request was found well-formed and correctly signed. */
  readonly secretId?: string;
  /** Why the request was refused. */
  readonly refused?: string;
  readonly signedHeaders: readonly string[];
}

export interface FakeSecretsManager {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_SECRETS_MANAGER or the reader's `endpoint`. */
  readonly endpoint: string;
  /** The secrets it holds, by name: change it to make a secret appear or disappear. */
  readonly secrets: Map<string, string>;
  readonly requests: readonly SecretsManagerRequest[];
  /** How many well-formed requests asked for `name`. */
  readsOf(name: string): number;
  close(): Promise<void>;
}

export interface FakeSecretsManagerOptions {
  readonly region: string;
  readonly credentials: AwsCredentials;
  readonly secrets?: Record<string, string>;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;
const REQUIRED_SIGNED = ['content-type', 'host', 'x-amz-date', 'x-amz-target'];

class Refusal extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const header = (request: IncomingMessage, name: string): string => {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
};

/** 20250506T070809Z → the Date it names. */
const fromAmzDate = (text: string): Date =>
  new Date(text.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

export async function startFakeSecretsManager(options: FakeSecretsManagerOptions): Promise<FakeSecretsManager> {
  const secrets = new Map(Object.entries(options.secrets ?? {}));
  const requests: SecretsManagerRequest[] = [];
  const signer = new SignatureV4({
    service: 'secretsmanager',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
    // Only the headers the client signed: no x-amz-content-sha256 of its own.
    applyChecksum: false,
  });

  /** The SecretId of a well-formed, correctly signed request; else a Refusal. */
  async function verify(request: IncomingMessage, body: string): Promise<{ secretId: string; signed: string[] }> {
    if (request.method !== 'POST' || request.url !== '/')
      throw new Refusal('UnknownOperationException', `${request.method} ${request.url}`);
    if (header(request, 'content-type') !== 'application/x-amz-json-1.1')
      throw new Refusal('SerializationException', `content-type ${header(request, 'content-type')}`);
    if (header(request, 'x-amz-target') !== 'secretsmanager.GetSecretValue')
      throw new Refusal('UnknownOperationException', `x-amz-target ${header(request, 'x-amz-target')}`);
    const match = AUTHORIZATION.exec(header(request, 'authorization'));
    if (!match) throw new Refusal('IncompleteSignatureException', 'no SigV4 Authorization header');
    const [, accessKeyId, day, region, service, signedList] = match as unknown as string[];
    const signed = signedList!.split(';');
    const amzDate = header(request, 'x-amz-date');
    if (accessKeyId !== options.credentials.accessKeyId)
      throw new Refusal('UnrecognizedClientException', `access key ${accessKeyId}`);
    if (region !== options.region || service !== 'secretsmanager' || !amzDate.startsWith(day!))
      throw new Refusal('InvalidSignatureException', `credential scope ${day}/${region}/${service}, date ${amzDate}`);
    const required = [...REQUIRED_SIGNED, ...(options.credentials.sessionToken ? ['x-amz-security-token'] : [])];
    const unsigned = required.filter((name) => !signed.includes(name));
    if (unsigned.length > 0) throw new Refusal('IncompleteSignatureException', `unsigned ${unsigned.join(', ')}`);
    if (
      options.credentials.sessionToken &&
      header(request, 'x-amz-security-token') !== options.credentials.sessionToken
    )
      throw new Refusal('UnrecognizedClientException', 'x-amz-security-token');
    const host = header(request, 'host');
    const resigned = await signer.sign(
      {
        method: 'POST',
        protocol: 'http:',
        hostname: host.replace(/:\d+$/, ''),
        path: '/',
        headers: Object.fromEntries(signed.map((name) => [name, header(request, name)])),
        body,
      },
      { signingDate: fromAmzDate(amzDate) },
    );
    if (resigned.headers.authorization !== header(request, 'authorization'))
      throw new Refusal('InvalidSignatureException', 'the signature does not match');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new Refusal('SerializationException', 'the body is not JSON');
    }
    const keys = parsed && typeof parsed === 'object' ? Object.keys(parsed) : [];
    const secretId = (parsed as { SecretId?: unknown } | null)?.SecretId;
    if (typeof secretId !== 'string' || keys.length !== 1)
      throw new Refusal('ValidationException', `the body is ${body}, expected {"SecretId": "..."}`);
    return { secretId, signed };
  }

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status: number, json: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(json));
      };
      verify(request, Buffer.concat(chunks).toString('utf8')).then(
        ({ secretId, signed }) => {
          requests.push({ secretId, signedHeaders: signed });
          const value = secrets.get(secretId);
          if (value === undefined)
            return answer(400, {
              __type: 'ResourceNotFoundException',
              message: "Secrets Manager can't find the specified secret.",
            });
          answer(200, {
            ARN: `arn:aws:secretsmanager:${options.region}:123456789012:secret:${secretId}-AbCdEf`,
            Name: secretId,
            SecretString: value,
            VersionId: '00000000-0000-0000-0000-000000000001',
            VersionStages: ['AWSCURRENT'],
            CreatedDate: 1.7e9,
          });
        },
        (error: unknown) => {
          const refusal = error instanceof Refusal ? error : new Refusal('InternalServiceError', String(error));
          requests.push({ refused: `${refusal.type}: ${refusal.message}`, signedHeaders: [] });
          answer(400, { __type: refusal.type, message: refusal.message });
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    secrets,
    requests,
    readsOf: (name) => requests.filter((request) => request.secretId === name).length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
