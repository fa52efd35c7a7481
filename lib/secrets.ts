/**
 * Secrets by reference. The deployed stack never holds a secret's value (not in
 * a parameter, an environment variable or the packaged template): it passes
 * the NAME of an AWS Secrets Manager secret (`ZK_AUTH_SECRET`,
 * `CATALOG_PASSWORD_SECRET`), and the function reads the value once per
 * container, when it first needs it, and keeps it in memory for the
 * container's life. A failed read is not kept, so the next invocation reads
 * again. Values are never logged, and no error quotes one.
 *
 * Secrets Manager rather than SSM SecureString parameters: the catalog is the
 * platform's PostgreSQL, whose password, on RDS, lives in Secrets Manager
 * already (an RDS-managed or rotated secret is JSON with `username` and
 * `password`, which lib/catalog/port.ts reads), so one service and one IAM
 * action serve both secrets. SSM would cost nothing per parameter (Secrets
 * Manager costs $0.40 per secret per month) but has no rotation.
 *
 * GetSecretValue is one SigV4-signed JSON POST (lib/aws-sigv4.ts) over
 * node:https: the AWS SDK client, or even @smithy/signature-v4 alone (about
 * 160 KB minified with the @smithy/core it pulls in), would take most of what
 * is left of the 400 KiB budget of the api, notify and heartbeat bundles.
 */
import * as z from './zod.js';
import { type AwsHttpResponse, parseJsonOrUndefined, sendAwsRequest } from './aws-http.js';
import { type AwsCredentials, awsServiceHost, signRequest } from './aws-sigv4.js';
import { type Clock, systemClock } from './clock.js';

export interface SecretReader {
  /** The secret's value (its SecretString): read on first use, then the same value for the reader's life. */
  read(name: string): Promise<string>;
}

export interface SecretsManagerOptions {
  readonly region: string;
  readonly credentials: AwsCredentials;
  /** Default `https://secretsmanager.<region>.amazonaws.com` (`.amazonaws.com.cn` in China). */
  readonly endpoint?: string;
  /** Per request. Default 5000. */
  readonly timeoutMs?: number;
  /** Signing time. */
  readonly clock?: Clock;
}

const SERVICE = 'secretsmanager';
const GET_SECRET_VALUE = 'secretsmanager.GetSecretValue';
const DEFAULT_TIMEOUT_MS = 5000;

const SecretValueSchema = z.object({ SecretString: z.optional(z.string()) });
const ErrorSchema = z.object({
  __type: z.optional(z.string()),
  message: z.optional(z.string()),
  Message: z.optional(z.string()),
});

export const defaultSecretsManagerEndpoint = (region: string): string => `https://${awsServiceHost(SERVICE, region)}`;

/** Secrets Manager's GetSecretValue, each name read once (concurrent first reads share one request). */
export class SecretsManagerReader implements SecretReader {
  private readonly url: URL;
  private readonly values = new Map<string, Promise<string>>();

  constructor(private readonly options: SecretsManagerOptions) {
    this.url = new URL(options.endpoint ?? defaultSecretsManagerEndpoint(options.region));
  }

  read(name: string): Promise<string> {
    let value = this.values.get(name);
    if (!value) {
      value = this.fetch(name);
      this.values.set(name, value);
      value.catch(() => this.values.delete(name));
    }
    return value;
  }

  private async fetch(name: string): Promise<string> {
    const what = `reading the secret ${JSON.stringify(name)} from Secrets Manager (${this.url.host})`;
    const body = JSON.stringify({ SecretId: name });
    const headers = signRequest({
      method: 'POST',
      url: this.url,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': GET_SECRET_VALUE },
      body,
      region: this.options.region,
      service: SERVICE,
      credentials: this.options.credentials,
      signingTime: (this.options.clock ?? systemClock)(),
    });
    let response: AwsHttpResponse;
    try {
      response = await sendAwsRequest(this.url, {
        method: 'POST',
        headers,
        body,
        timeoutMs: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      });
    } catch (error) {
      throw new Error(`${what} failed: ${(error as Error).message}`, { cause: error });
    }
    const json = parseJsonOrUndefined(response.body);
    if (response.status !== 200) {
      const error = ErrorSchema.safeParse(json);
      const type = error.data?.__type?.split('#').pop() ?? `HTTP ${response.status}`;
      const message = error.data?.message ?? error.data?.Message;
      throw new Error(`${what} failed: ${type}${message ? `: ${message}` : ''}`);
    }
    const secret = SecretValueSchema.safeParse(json);
    if (!secret.success) throw new Error(`${what}: the answer is not a GetSecretValue response`);
    if (secret.data.SecretString === undefined)
      throw new Error(`${what}: it has no SecretString (a binary secret is not supported)`);
    return secret.data.SecretString;
  }
}

/**
 * Secrets Manager with the region, credentials and endpoint of `env`: a Lambda's own (AWS_REGION,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), and AWS_ENDPOINT_URL_SECRETS_MANAGER if set
 * (the AWS SDKs' name for it). They are checked on the first read, so a process that names no secret needs none.
 */
export function secretReaderFromEnv(env: NodeJS.ProcessEnv = process.env): SecretReader {
  let reader: SecretsManagerReader | undefined;
  return {
    read(name) {
      try {
        reader ??= new SecretsManagerReader(secretsManagerOptionsFromEnv(env));
      } catch (error) {
        return Promise.reject(error);
      }
      return reader.read(name);
    },
  };
}

function secretsManagerOptionsFromEnv(env: NodeJS.ProcessEnv): SecretsManagerOptions {
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim();
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (!region || !accessKeyId || !secretAccessKey)
    throw new Error(
      'a secret is named, but AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not all set to read it ' +
        '(a Lambda has them; locally, give the value itself, e.g. ZK_AUTH instead of ZK_AUTH_SECRET)',
    );
  const sessionToken = env.AWS_SESSION_TOKEN?.trim();
  const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER?.trim();
  return {
    region,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    ...(endpoint ? { endpoint } : {}),
  };
}
