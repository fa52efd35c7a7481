/**
 * The local HTTP front door: a node:http server that turns each request into
 * the API Gateway HTTP API (payload 2.0) event a Lambda would receive and
 * hands it to the same handler, so local and deployed traffic take the same
 * routes through the same code.
 */
import { systemClock } from '../clock.js';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { HttpError, httpErrorResponse, payloadTooLarge } from '../handlers/http-errors.js';

export type HttpApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

/**
 * Lambda refuses request payloads over 6 MB before our code runs; the local
 * server refuses them too rather than buffer without bound, with the API's
 * error shape (lib/handlers/http-errors.ts). Smaller limits are the handler's
 * business (it answers 413 itself).
 */
export const TRANSPORT_BODY_LIMIT_BYTES = 6 * 1024 * 1024;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** `requestContext.time` as API Gateway writes it: "21/Nov/2025:10:04:05 +0000". */
export const apiGatewayTime = (epochMs: number): string => {
  const d = new Date(epochMs);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
};

export interface RequestInput {
  readonly method: string;
  /** Path and query exactly as on the request line. */
  readonly url: string;
  /** `IncomingMessage.headersDistinct`-like: lower-case names, every value. */
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
  readonly body: string;
  readonly sourceIp: string;
  readonly requestId: string;
  readonly now: number;
}

/**
 * API Gateway's mapping: header names lower-cased and repeated values joined
 * with commas; cookies moved to `cookies`; query parameters decoded and
 * joined with commas; `rawPath`/`rawQueryString` untouched; no body key when
 * the body is empty.
 */
export function toHttpApiEvent(input: RequestInput): APIGatewayProxyEventV2 {
  const queryStart = input.url.indexOf('?');
  const rawPath = queryStart === -1 ? input.url : input.url.slice(0, queryStart);
  const rawQueryString = queryStart === -1 ? '' : input.url.slice(queryStart + 1);

  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, values] of Object.entries(input.headers)) {
    if (!values || values.length === 0) continue;
    const key = name.toLowerCase();
    if (key === 'cookie') {
      cookies = values
        .flatMap((value) => value.split(';'))
        .map((cookie) => cookie.trim())
        .filter(Boolean);
      continue;
    }
    headers[key] = values.join(',');
  }

  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString) {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(rawQueryString)) {
      queryStringParameters[key] = key in queryStringParameters ? `${queryStringParameters[key]},${value}` : value;
    }
  }

  const method = input.method.toUpperCase();
  let path = rawPath;
  try {
    path = decodeURI(rawPath);
  } catch {
    // A malformed escape stays as sent; the router answers 404/400.
  }
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: (headers.host ?? '127.0.0.1').split('.')[0] ?? 'local',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: input.sourceIp, userAgent: headers['user-agent'] ?? '' },
      requestId: input.requestId,
      routeKey: '$default',
      stage: '$default',
      time: apiGatewayTime(input.now),
      timeEpoch: input.now,
    },
    ...(input.body ? { body: input.body } : {}),
    isBase64Encoded: false,
  };
}

/** A string or object result is what API Gateway infers: 200, JSON. */
export function normaliseResult(result: APIGatewayProxyResultV2): APIGatewayProxyStructuredResultV2 {
  if (typeof result === 'string')
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: result };
  if (result && typeof result === 'object' && 'statusCode' in result) return result;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
}

class BodyTooLargeError extends Error {}

function readBody(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError());
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body =
    result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  response.writeHead(result.statusCode ?? 200, headers);
  response.end(body);
}

/** A request refused before any handler runs: the API's error body, a request id of its own. */
const refusal = (error: HttpError, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 => {
  const response = httpErrorResponse(error, randomUUID());
  return { ...response, headers: { ...response.headers, ...headers } };
};

/** The body size the request announces; NaN without a Content-Length (a chunked body). */
const declaredLength = (request: IncomingMessage): number => Number(request.headers['content-length'] ?? Number.NaN);

/** API Gateway's own answer when the handler throws; the error itself goes to `onError`. */
const internalError = (): APIGatewayProxyStructuredResultV2 => ({
  statusCode: 500,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'Internal Server Error' }),
});

export interface LocalHttpServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  readonly port: number;
  readonly host?: string;
  readonly bodyLimitBytes?: number;
  /**
   * A request whose headers and body have not all arrived this long after it began is answered
   * 408 and its socket closed (API Gateway waits 30 s for a whole request). Default 30 s.
   */
  readonly requestTimeoutMs?: number;
  /** The same for its headers; at most `requestTimeoutMs`. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Called for a handler that threw: API Gateway answers 500 and the error is only in the logs. */
  readonly onError?: (error: unknown, event: APIGatewayProxyEventV2) => void;
}

export const REQUEST_TIMEOUT_MS = 30_000;
export const HEADERS_TIMEOUT_MS = 10_000;

export async function startHttpServer(handler: HttpApiHandler, options: HttpServerOptions): Promise<LocalHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const limit = options.bodyLimitBytes ?? TRANSPORT_BODY_LIMIT_BYTES;
  const serve = (request: IncomingMessage, response: ServerResponse): void => {
    void (async () => {
      // An announced oversize body is refused before it is read; Node discards what still arrives.
      const declared = declaredLength(request);
      if (declared > limit) {
        send(response, refusal(payloadTooLarge(limit, declared)));
        return;
      }
      let body: string;
      try {
        body = await readBody(request, limit);
      } catch (error) {
        send(
          response,
          refusal(
            error instanceof BodyTooLargeError
              ? payloadTooLarge(limit)
              : new HttpError(400, 'INVALID_REQUEST', `request body could not be read: ${(error as Error).message}`),
          ),
        );
        return;
      }
      const event = toHttpApiEvent({
        method: request.method ?? 'GET',
        url: request.url ?? '/',
        headers: request.headersDistinct,
        body,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        requestId: randomUUID(),
        now: systemClock(),
      });
      try {
        send(response, normaliseResult(await handler(event)));
      } catch (error) {
        options.onError?.(error, event);
        send(response, internalError());
      }
    })();
  };
  // Without these, a body that never finishes held its socket for 150 s and more (Node's requestTimeout is 300 s).
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout);
  const server: Server = createServer(
    {
      requestTimeout,
      headersTimeout,
      // Node looks for expired requests every 30 s by default, which would let a 30 s timeout run to 60 s.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    serve,
  );
  // `Expect: 100-continue` (curl sends it for bodies over 1 MB): an oversize body is refused before it is sent,
  // and the connection closed, since the client may send that body or the next request.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (declaredLength(request) > limit) {
      send(response, refusal(payloadTooLarge(limit, declaredLength(request)), { Connection: 'close' }));
      return;
    }
    response.writeContinue();
    serve(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`PORT ${options.port} is in use on ${host}: stop the other server or set PORT to a free port`)
          : error,
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
