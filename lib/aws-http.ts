/**
 * One HTTPS call to an AWS JSON API, as the few calls made without an SDK need it
 * (EKS DescribeCluster in lib/instances/eks-auth.ts, Secrets Manager in lib/secrets.ts):
 * a bounded answer, a timeout, and AWS's error type from its header.
 */

export interface AwsHttpRequest {
  readonly method: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
}

export interface AwsHttpResponse {
  readonly status: number;
  /** `x-amzn-errortype`, when AWS names the error there. */
  readonly errorType: string | undefined;
  readonly body: string;
}

/** No AWS answer these calls read comes near this; a larger one is cut off, not buffered. */
const MAX_RESPONSE_BYTES = 1 << 20;

export async function sendAwsRequest(url: URL, request: AwsHttpRequest): Promise<AwsHttpResponse> {
  // Loaded on the first call, not at import: loading node:http and node:https took 31-108 ms (10 fresh processes,
  // load average 18 on 2 cores), which a container that makes no such call would pay at every cold start.
  const { request: send } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const { method, body, timeoutMs } = request;
  const headers =
    body === undefined ? request.headers : { ...request.headers, 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const outgoing = send(url, { method, headers, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) outgoing.destroy(new Error(`the answer exceeds ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        const errorType = response.headers['x-amzn-errortype'];
        resolve({
          status: response.statusCode ?? 0,
          errorType: Array.isArray(errorType) ? errorType[0] : errorType,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      response.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** The answer's JSON, or undefined for a body that is not JSON (a proxy's HTML page, a cut-off answer). */
export const parseJsonOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
