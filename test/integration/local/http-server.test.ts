/**
 * The local HTTP front door: real HTTP requests become the API Gateway HTTP
 * API v2 events a Lambda gets, and handler results become real responses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../lib/app.js';
import { HttpApiEventSchema } from '../../../lib/handlers/events.js';
import { MAX_BODY_BYTES } from '../../../lib/handlers/http-bodies.js';
import { handleHttp } from '../../../lib/handlers/http.js';
import {
  apiGatewayTime,
  HEADERS_TIMEOUT_MS,
  REQUEST_TIMEOUT_MS,
  startHttpServer,
  toHttpApiEvent,
  type LocalHttpServer,
} from '../../../lib/local/http-server.js';

describe('request to HTTP API v2 event', () => {
  const input = {
    method: 'post',
    url: '/v1/api/orchestrations/Thing/orchestrate?plan=full&x=1&x=2',
    headers: {
      'content-type': ['application/json'],
      'x-multi': ['a', 'b'],
      cookie: ['a=1; b=2'],
      host: ['127.0.0.1:9281'],
    },
    body: '{"initInstances":3}',
    sourceIp: '127.0.0.1',
    requestId: 'req-1',
    now: Date.UTC(2025, 10, 21, 10, 4, 5),
  };

  it('keeps the raw path and query, lower-cases and joins headers, moves cookies, decodes parameters', () => {
    const event = toHttpApiEvent(input);

    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/v1/api/orchestrations/Thing/orchestrate',
      rawQueryString: 'plan=full&x=1&x=2',
      headers: { 'content-type': 'application/json', 'x-multi': 'a,b', host: '127.0.0.1:9281' },
      cookies: ['a=1', 'b=2'],
      queryStringParameters: { plan: 'full', x: '1,2' },
      body: '{"initInstances":3}',
      isBase64Encoded: false,
      requestContext: {
        requestId: 'req-1',
        http: { method: 'POST', path: '/v1/api/orchestrations/Thing/orchestrate', sourceIp: '127.0.0.1' },
        time: '21/Nov/2025:10:04:05 +0000',
      },
    });
    expect(event.headers.cookie).toBeUndefined();
    expect(HttpApiEventSchema.safeParse(event).success).toBe(true);
  });

  it('has no body key and no query parameters when the request has none', () => {
    const event = toHttpApiEvent({ ...input, method: 'GET', url: '/', body: '', headers: {} });

    expect('body' in event).toBe(false);
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.rawQueryString).toBe('');
  });

  it('formats requestContext.time as API Gateway does', () => {
    expect(apiGatewayTime(Date.UTC(2024, 0, 2, 3, 4, 5))).toBe('02/Jan/2024:03:04:05 +0000');
  });
});

describe('local HTTP server', () => {
  let server: LocalHttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const serve = async (
    handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>,
    bodyLimitBytes?: number,
  ) => {
    server = await startHttpServer(handler, { port: 0, ...(bodyLimitBytes ? { bodyLimitBytes } : {}) });
    return server.url;
  };

  it('hands the handler the request and writes back its status, headers, cookies and base64 body', async () => {
    const seen: APIGatewayProxyEventV2[] = [];
    const url = await serve(async (event) => {
      seen.push(event);
      return {
        statusCode: 201,
        headers: { 'X-Answer': 42 },
        cookies: ['s=1; Path=/'],
        body: Buffer.from('binary\u0000ok').toString('base64'),
        isBase64Encoded: true,
      };
    });

    const response = await fetch(`${url}/some/path?q=1`, {
      method: 'PUT',
      body: 'hello',
      headers: { 'X-Custom': 'Yes' },
    });

    expect(response.status).toBe(201);
    expect(response.headers.get('x-answer')).toBe('42');
    expect(response.headers.get('set-cookie')).toBe('s=1; Path=/');
    expect(Buffer.from(await response.arrayBuffer()).toString()).toBe('binary\u0000ok');
    expect(seen[0]).toMatchObject({
      rawPath: '/some/path',
      rawQueryString: 'q=1',
      body: 'hello',
      headers: { 'x-custom': 'Yes' },
      requestContext: { http: { method: 'PUT' } },
    });
  });

  describe('a body over the transport limit', () => {
    const LIMIT = 1024;
    let calls: number;
    const serveCounting = async (): Promise<string> => {
      calls = 0;
      return serve(async () => {
        calls++;
        return { statusCode: 200 };
      }, LIMIT);
    };
    /** The API's error body (lib/handlers/http-errors.ts): exactly error, message and details. */
    const expectApiError = async (response: Response, details: Record<string, number>): Promise<void> => {
      expect(response.status).toBe(413);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['details', 'error', 'message']);
      expect(body).toMatchObject({ error: 'PAYLOAD_TOO_LARGE', details });
    };

    it('answers one byte over with the API error body, without calling the handler', async () => {
      const url = await serveCounting();

      const response = await fetch(`${url}/`, { method: 'POST', body: 'x'.repeat(LIMIT + 1) });

      await expectApiError(response, { size: LIMIT + 1, limit: LIMIT });
      expect(calls).toBe(0);
    });

    it('answers a huge body with the same error body, and the connection serves the next request', async () => {
      const url = await serveCounting();

      const response = await fetch(`${url}/`, { method: 'POST', body: Buffer.alloc(16 * 1024 * 1024, 120) });
      await expectApiError(response, { size: 16 * 1024 * 1024, limit: LIMIT });
      const next = await fetch(`${url}/`, { method: 'POST', body: 'small' });

      expect(next.status).toBe(200);
      expect(calls).toBe(1);
    });

    it('answers a streamed body without a length once it passes the limit', async () => {
      const url = await serveCounting();
      const chunk = new TextEncoder().encode('x'.repeat(512));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 8) controller.enqueue(chunk);
          else controller.close();
        },
      });

      const response = await fetch(`${url}/`, { method: 'POST', body, duplex: 'half' } as RequestInit);

      await expectApiError(response, { limit: LIMIT });
      expect(calls).toBe(0);
    });

    it('refuses an announced huge body before the client sends it (Expect: 100-continue)', async () => {
      const url = new URL(await serveCounting());
      let continued = false;

      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest({
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/',
          headers: { 'Content-Length': String(64 * 1024 * 1024), Expect: '100-continue' },
        });
        request.on('continue', () => {
          continued = true;
        });
        request.on('response', (response) => {
          response.resume();
          request.destroy();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
        request.flushHeaders();
      });

      expect(status).toBe(413);
      expect(continued).toBe(false);
      expect(calls).toBe(0);
    });
  });

  it('answers 500 with a generic message when the handler throws, as API Gateway does', async () => {
    const url = await serve(async () => {
      throw new Error('secret detail');
    });

    const response = await fetch(`${url}/`);

    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('secret detail');
  });
});

describe('local HTTP server with the real API handler', () => {
  let dir: string;
  let app: App;
  let server: LocalHttpServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iota-http-'));
    app = await createApp({ ORCH_DATA_DIR: dir });
    server = await startHttpServer((event) => handleHttp(app, event), { port: 0 });
  });

  afterAll(async () => {
    await server.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the dashboard page at /', async () => {
    const response = await fetch(`${server.url}/`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    expect(await response.text()).toContain('data-testid="kinds"');
  });

  it('routes API paths to the use cases: assign, then locate', async () => {
    const assigned = await fetch(`${server.url}/v1/api/orchestrations/Thing/resources`, {
      method: 'POST',
      body: JSON.stringify({ ids: ['t-http'] }),
    });
    const located = await fetch(`${server.url}/v1/api/orchestrations/Thing/t-http/instances`);

    expect(assigned.status).toBe(200);
    expect(await located.json()).toEqual({ runIn: '0' });
  });

  it("leaves the body limit to the handler, which answers 413 with the API's error shape", async () => {
    const response = await fetch(`${server.url}/v1/api/orchestrations/Thing/orchestrate`, {
      method: 'POST',
      body: ' '.repeat(MAX_BODY_BYTES + 1),
    });

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: 'PAYLOAD_TOO_LARGE',
      message: `request body is ${MAX_BODY_BYTES + 1} bytes; the limit is ${MAX_BODY_BYTES}`,
      details: { size: MAX_BODY_BYTES + 1, limit: MAX_BODY_BYTES },
    });
  });
});

describe('local HTTP server timeouts', () => {
  let server: LocalHttpServer | undefined;
  let calls = 0;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    calls = 0;
  });

  const serve = async (options: { requestTimeoutMs: number; headersTimeoutMs: number }, answerAfterMs = 0) => {
    server = await startHttpServer(
      async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, answerAfterMs));
        return { statusCode: 200, body: 'answered' };
      },
      { port: 0, ...options },
    );
    return server.port;
  };

  /** Writes `payload` on a raw socket and sends nothing more: what came back, and when the server closed it. */
  const stalledRequest = (port: number, payload: string): Promise<{ answer: string; closedAfterMs: number }> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      let answer = '';
      const socket = connect(port, '127.0.0.1', () => socket.write(payload));
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve({ answer, closedAfterMs: performance.now() - started }));
    });

  it('waits 10 s for headers and 30 s for a whole request by default', () => {
    expect([HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS]).toEqual([10_000, 30_000]);
  });

  it('answers 408 and closes the socket of a request whose body never finishes, without calling the handler', async () => {
    const port = await serve({ requestTimeoutMs: 400, headersTimeoutMs: 200 });

    const { answer, closedAfterMs } = await stalledRequest(
      port,
      'POST /v1/api/orchestrations/Thing/orchestrate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"initInstances":',
    );

    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(350);
    expect(closedAfterMs).toBeLessThan(3000);
    expect(calls).toBe(0);
  });

  it('answers 408 to a connection whose headers never finish', async () => {
    const port = await serve({ requestTimeoutMs: 2000, headersTimeoutMs: 200 });

    const { answer, closedAfterMs } = await stalledRequest(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');

    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeLessThan(1500);
  });

  it('lets a handler answer after the request timeout once the request has arrived whole', async () => {
    const port = await serve({ requestTimeoutMs: 300, headersTimeoutMs: 200 }, 800);

    const response = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(200);
    expect(await response.text()).toBe('answered');
  });
});
