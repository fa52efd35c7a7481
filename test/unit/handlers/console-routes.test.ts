/**
 * The routes the console reads, through the router over the real use cases
 * and an embedded store: one instance with its resource ids paged, the
 * alerts kept in the store, the static page and its files, and the console's
 * twin of every API route.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OrchestratorAlert } from '../../../lib/alerts.js';
import { handleHttp, ROUTE_KEYS_BY_ACCESS } from '../../../lib/handlers/http.js';
import { fixture } from './fixtures.js';
import { openTestApp, type TestApp } from './test-app.js';

let requestCounter = 0;

function request(path: string, query = '', headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  const template = fixture<APIGatewayProxyEventV2>('http-api-v2-get-locate-iam.json');
  return {
    ...template,
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers: { ...template.headers, ...headers },
    requestContext: {
      ...template.requestContext,
      requestId: `console-${++requestCounter}`,
      http: { ...template.requestContext.http, method: 'GET', path },
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
const json = (response: APIGatewayProxyStructuredResultV2): Record<string, any> => JSON.parse(response.body ?? 'null');
const get = async (path: string, query = '', headers: Record<string, string> = {}) =>
  handleHttp(t.app, request(path, query, headers));

const THINGS = Array.from({ length: 12 }, (_, i) => `t-${String(i).padStart(2, '0')}`);
let t: TestApp;
beforeEach(async () => {
  t = await openTestApp('sqlite', { label: 'console-routes' });
});
afterEach(() => t.close());

describe('GET …/{resource}/instances/{instanceId}', () => {
  const INSTANCE = '/v1/api/orchestrations/Thing/instances/0';

  it('pages the resource ids by cursor until the last page', async () => {
    await t.app.orchestrator.assign('Thing', THINGS);
    const seen: string[] = [];
    let query = 'limit=5';
    for (;;) {
      const response = await get(INSTANCE, query);
      expect(response.statusCode).toBe(200);
      const { instance, resources } = json(response);
      expect(instance).toMatchObject({ id: '0', used: THINGS.length, count: 5000 });
      seen.push(...resources.ids);
      if (resources.nextCursor === null) break;
      query = `limit=5&cursor=${encodeURIComponent(resources.nextCursor)}`;
    }

    expect(seen).toEqual(THINGS);
  });

  it('searches the ids with q', async () => {
    await t.app.orchestrator.assign('Thing', THINGS);

    const { resources } = json(await get(INSTANCE, 'q=T-1'));

    expect(resources).toMatchObject({ matched: 2, total: THINGS.length, ids: ['t-10', 't-11'], nextCursor: null });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=2.5', 'limit'],
    ['limit=ten', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    [`q=${'x'.repeat(129)}`, 'q'],
  ])('answers 400 naming the parameter for %s', async (query, parameter) => {
    await t.app.orchestrator.assign('Thing', THINGS);

    const response = await get(INSTANCE, query);

    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ error: 'INVALID_REQUEST', details: { issues: [{ path: parameter }] } });
  });

  it('answers 400 for an instance id that is not one, 404 for an instance or kind that does not exist', async () => {
    await t.app.orchestrator.assign('Thing', THINGS);

    expect((await get('/v1/api/orchestrations/Thing/instances/01')).statusCode).toBe(400);
    const missing = await get('/v1/api/orchestrations/Thing/instances/3');
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({
      error: 'INSTANCE_NOT_FOUND',
      details: { resource: 'Thing', instanceId: '3' },
    });
    expect(json(await get('/v1/api/orchestrations/Device/instances/0'))).toMatchObject({ error: 'UNKNOWN_RESOURCE' });
  });

  it('keeps the legacy locate route for a resource named "instances"', async () => {
    await t.app.orchestrator.assign('Thing', ['instances']);

    expect(json(await get('/v1/api/orchestrations/Thing/instances/instances'))).toEqual({ runIn: '0' });
  });
});

describe('GET /v1/api/alerts', () => {
  const alert = (resource: string, at: number): OrchestratorAlert => ({
    type: 'fleet-silent',
    resource,
    stale: 7,
    total: 10,
    at,
    instances: ['0'],
  });

  it('lists the newest alerts kept in the store first, each with its time and text', async () => {
    await t.app.alerts.publish([alert('Thing', 1_000), alert('Rule', 2_000), alert('Thing', 3_000)]);

    const response = await get('/v1/api/alerts', 'limit=2');

    expect(response.statusCode).toBe(200);
    const body = json(response);
    expect(body.kept).toBe(3);
    expect(body.alerts).toEqual([
      expect.objectContaining({ type: 'fleet-silent', resource: 'Thing', at: 3_000, level: 'critical' }),
      expect.objectContaining({ resource: 'Rule', at: 2_000, title: 'Rule workers silent', delivered: false }),
    ]);
    expect(body.alerts[0].content).toMatch(/^7 of 10 Thing instances sent no heartbeat/);
  });

  it('answers 400 for a limit over what the store keeps', async () => {
    expect((await get('/v1/api/alerts', 'limit=101')).statusCode).toBe(400);
  });
});

describe('the console', () => {
  it('has a JWT twin of every machine route, answering the same', async () => {
    await t.app.orchestrator.assign('Thing', THINGS);

    expect(ROUTE_KEYS_BY_ACCESS.console).toEqual(
      ROUTE_KEYS_BY_ACCESS.machine.map((key) => key.replace(' /v1/api', ' /console/v1/api')),
    );
    // The same answer but for the time each was generated at.
    const { generatedAt: _machineAt, ...machine } = json(
      await get('/v1/api/orchestrations/Thing/instances/0', 'limit=3'),
    );
    const { generatedAt: _consoleAt, ...console } = json(
      await get('/console/v1/api/orchestrations/Thing/instances/0', 'limit=3'),
    );
    expect(console).toEqual(machine);
    expect(machine.instance).toBeDefined();
  });

  it('serves a page with no data: where the API is and how to sign in, nothing more', async () => {
    await t.app.orchestrator.assign('Thing', THINGS);
    const page = (await get('/')).body ?? '';
    const signedIn = await handleHttp(
      {
        ...t.app,
        consoleSignIn: {
          issuer: 'https://idp.example.com/pool',
          clientId: 'iota-console',
          audience: ['iota-console'],
          scope: 'openid',
        },
      },
      request('/'),
    );

    expect(page).not.toContain('t-00');
    expect(page).toContain('{"api":"/console/v1/api","signIn":null}');
    expect(page).not.toContain('oidc-client-ts');
    expect(signedIn.body).toContain(
      '{"api":"/console/v1/api","signIn":{"issuer":"https://idp.example.com/pool","clientId":"iota-console","scope":"openid"}}',
    );
    expect(signedIn.body).toContain("connect-src 'self' https://idp.example.com;");
    expect(signedIn.body).toContain('<script src="/console/assets/oidc-client-ts.min.js"></script>');
  });

  it.each([
    ['oidc-client-ts.min.js', 'UserManager'],
    ['console.js', 'window.iotaConsole'],
    ['console.css', 'dialog.instance'],
  ])('serves the static file %s, revalidated by its ETag', async (name, marker) => {
    const response = await get(`/console/assets/${name}`);

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(marker);
    expect(response.body).not.toContain('sourceMappingURL');
    const etag = response.headers?.ETag as string;
    const again = await get(`/console/assets/${name}`, '', { 'if-none-match': `"other", ${etag}` });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBeUndefined();
  });

  it('answers 404 for a file that is not one of its assets', async () => {
    expect((await get('/console/assets/..%2Fpackage.json')).statusCode).toBe(404);
    expect((await get('/console/assets/toString')).statusCode).toBe(404);
  });
});
