/**
 * The API router on HTTP API v2 events (the golden fixtures and variations of
 * them), over the real use cases and an embedded store.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderDashboard } from '../../../lib/dashboard/page.js';
import { MAX_BODY_BYTES } from '../../../lib/handlers/http-bodies.js';
import { handleHttp } from '../../../lib/handlers/http.js';
import { fixture, sampleEvent } from './fixtures.js';
import { openTestApp, type TestApp } from './test-app.js';

const THING = '6d1c2f0e-3b8a-4c57-9f2e-1a2b3c4d5e6f';
let requestCounter = 0;

/** A v2 event like the golden ones, for any method, path and body. */
function request(
  method: string,
  path: string,
  options: { body?: string; base64?: boolean; query?: string } = {},
): APIGatewayProxyEventV2 {
  const template = fixture<APIGatewayProxyEventV2>('http-api-v2-get-locate-iam.json');
  const body =
    options.body === undefined
      ? undefined
      : options.base64
        ? Buffer.from(options.body).toString('base64')
        : options.body;
  return {
    ...template,
    routeKey: '$default',
    rawPath: path,
    rawQueryString: options.query ?? '',
    requestContext: {
      ...template.requestContext,
      requestId: `req-${++requestCounter}`,
      http: { ...template.requestContext.http, method, path },
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: options.base64 ?? false,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field, their shapes vary per route
const json = (response: APIGatewayProxyStructuredResultV2): Record<string, any> => JSON.parse(response.body ?? 'null');

let t: TestApp;
beforeEach(async () => {
  t = await openTestApp('sqlite', { label: 'router' });
});
afterEach(async () => {
  await t.close();
});

const addThings = async (count: number): Promise<string[]> => {
  const ids = Array.from({ length: count }, (_, i) => `T-${i}`);
  await t.app.orchestrator.assign('Thing', ids);
  return ids;
};

describe('dashboard', () => {
  it.each(['/', '/dashboard'])('serves the dashboard page at %s', async (path) => {
    const response = await handleHttp(t.app, request('GET', path));

    expect(response.statusCode).toBe(200);
    expect(response.headers?.['Content-Type']).toBe('text/html; charset=utf-8');
    expect(response.body).toBe(renderDashboard({ api: '/console/v1/api', signIn: null }));
  });
});

describe('GET /v1/api/health', () => {
  it('reports the store reachable, naming the backend', async () => {
    const response = await handleHttp(t.app, sampleEvent('api-health.json'));

    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ status: 'ok', store: { reachable: true, backend: t.app.store.description } });
  });

  it('answers 503 when the store cannot be reached', async () => {
    t.store.goDown();

    const response = await handleHttp(t.app, sampleEvent('api-health.json'));

    expect(response.statusCode).toBe(503);
    expect(json(response)).toMatchObject({ status: 'unavailable', store: { reachable: false } });
  });
});

describe('GET /v1/api/orchestrations', () => {
  it('lists the configured kinds', async () => {
    const response = await handleHttp(t.app, request('GET', '/v1/api/orchestrations'));

    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      kinds: [
        { resource: 'Thing', instanceName: 'iota-dac', heartbeat: true, initInstances: 10 },
        { resource: 'Rule', instanceName: 'iota-rules-engine', heartbeat: false, initInstances: 10 },
      ],
    });
  });
});

describe('GET /v1/api/orchestrations/{resource}', () => {
  it('returns the orchestration view with every instance and the totals', async () => {
    await addThings(3);

    const response = await handleHttp(t.app, sampleEvent('api-get-orchestration.json'));

    expect(response.statusCode).toBe(200);
    const view = json(response);
    expect(view).toMatchObject({
      resource: 'Thing',
      instanceName: 'iota-dac',
      heartbeat: true,
      totals: { resources: 3 },
    });
    expect(view.instances.reduce((sum: number, instance: { used: number }) => sum + instance.used, 0)).toBe(3);
  });

  it('answers 404 for a resource kind that is not configured, listing the known ones', async () => {
    const response = await handleHttp(t.app, request('GET', '/v1/api/orchestrations/Gadget'));

    expect(response.statusCode).toBe(404);
    expect(json(response)).toMatchObject({
      error: 'UNKNOWN_RESOURCE',
      details: { resource: 'Gadget', known: ['Thing', 'Rule'] },
    });
  });
});

describe('POST /v1/api/orchestrations/{resource}/orchestrate', () => {
  it('accepts the empty body the legacy console sends and applies the legacy defaults', async () => {
    await addThings(25);

    const response = await handleHttp(t.app, fixture('http-api-v2-post-orchestrate-empty-body.json'));

    expect(response.statusCode).toBe(200);
    const body = json(response);
    // 25 resources need floor(25/5000)+1 = 1 instance, fewer than initInstances 10: 10 instances, spread at most
    // floor(25/10)+1 = 3 each; each keeps the configured capacity 5000 (SPEC §3, changed from legacy).
    expect(body).toMatchObject({ resource: 'Thing', instances: 10, resourcePerInstance: 5000, spreadPerInstance: 3 });
    expect(body.after).toHaveLength(10);
    expect(
      body.after.every((instance: { used: number; count: number }) => instance.used <= 3 && instance.count === 5000),
    ).toBe(true);
    expect(body.moved).toBeGreaterThanOrEqual(body.minimumMoves);
    expect(body.plan.every((move: Record<string, unknown>) => typeof move.count === 'number' && !('ids' in move))).toBe(
      true,
    );
  });

  it('reads a base64-encoded body and returns the full plan on ?plan=full', async () => {
    await addThings(25);

    const response = await handleHttp(t.app, fixture('http-api-v2-post-orchestrate-base64.json'));

    expect(response.statusCode).toBe(200);
    const body = json(response);
    expect(body).toMatchObject({ instances: 13, resourcePerInstance: 2, spreadPerInstance: 2 });
    const movedIds = body.plan.flatMap((move: { ids: string[] }) => move.ids);
    expect(movedIds).toHaveLength(body.moved);
  });

  it('answers 400 naming the option when one is out of its legacy range', async () => {
    const response = await handleHttp(
      t.app,
      request('POST', '/v1/api/orchestrations/Thing/orchestrate', { body: '{"maxInstances":2}' }),
    );

    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({
      error: 'INVALID_OPTION',
      details: { field: 'maxInstances', range: '[3, 100)', received: 2 },
    });
  });

  it('answers 400 with the issue paths for a body of the wrong shape', async () => {
    const response = await handleHttp(
      t.app,
      request('POST', '/v1/api/orchestrations/Thing/orchestrate', { body: '{"maxInstances":"ten","maxInstance":10}' }),
    );

    expect(response.statusCode).toBe(400);
    const body = json(response);
    expect(body.error).toBe('INVALID_REQUEST');
    expect(body.details.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['', 'maxInstances']);
    expect(body.message).toContain('maxInstance');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await handleHttp(
      t.app,
      request('POST', '/v1/api/orchestrations/Thing/orchestrate', { body: '{maxInstances: 10' }),
    );

    expect(response.statusCode).toBe(400);
    expect(json(response).error).toBe('INVALID_JSON');
  });

  it('answers 409 with the legacy message when more instances would be needed than allowed', async () => {
    await addThings(25);

    const response = await handleHttp(
      t.app,
      request('POST', '/v1/api/orchestrations/Thing/orchestrate', {
        body: JSON.stringify({ initInstances: 3, maxInstances: 3, resourcePerInstance: 2 }),
      }),
    );

    expect(response.statusCode).toBe(409);
    expect(json(response)).toMatchObject({
      error: 'CAPACITY_EXCEEDED',
      message: 'require instances more than the max: 13/3',
      details: { required: 13, max: 3 },
    });
  });

  it('answers 409 naming the holder while another orchestrate holds the lease', async () => {
    await t.app.orchestrator.acquireLease('orchestrate-Thing', 'req-elsewhere', 60_000);

    const response = await handleHttp(t.app, fixture('http-api-v2-post-orchestrate-empty-body.json'));

    expect(response.statusCode).toBe(409);
    expect(json(response)).toMatchObject({ error: 'LEASE_HELD', details: { holder: 'req-elsewhere' } });
    expect(Number(response.headers?.['Retry-After'])).toBeGreaterThan(0);
  });
});

describe('GET /v1/api/orchestrations/{resource}/{id}/instances', () => {
  it('answers {"runIn": instanceId} for an assigned resource', async () => {
    const placed = await t.app.orchestrator.assign('Thing', [THING]);

    const response = await handleHttp(t.app, fixture('http-api-v2-get-locate-iam.json'));

    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ runIn: placed.assigned[0]?.instanceId });
  });

  it('answers 404 for a resource assigned nowhere', async () => {
    const response = await handleHttp(t.app, fixture('http-api-v2-get-locate-iam.json'));

    expect(response.statusCode).toBe(404);
    expect(json(response)).toMatchObject({ error: 'NOT_ASSIGNED', details: { resource: 'Thing', id: THING } });
  });

  it('answers 400 naming the id for a percent-encoded id that is not a valid resource id', async () => {
    const response = await handleHttp(t.app, request('GET', '/v1/api/orchestrations/Thing/a%20b/instances'));

    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ error: 'INVALID_REQUEST', details: { issues: [{ path: 'id' }] } });
  });

  it('answers 400 for a path with broken percent-encoding', async () => {
    const response = await handleHttp(t.app, request('GET', '/v1/api/orchestrations/Thing/%E0%A4%A/instances'));

    expect(response.statusCode).toBe(400);
  });
});

describe('POST and DELETE /v1/api/orchestrations/{resource}/resources', () => {
  it('assigns the ids, then reports them already assigned on a repeat', async () => {
    const first = await handleHttp(t.app, sampleEvent('api-add-resources.json'));
    const again = await handleHttp(t.app, sampleEvent('api-add-resources.json'));

    expect(first.statusCode).toBe(200);
    expect(json(first).assigned).toHaveLength(2);
    expect(json(again)).toMatchObject({ assigned: [], alreadyAssigned: [{}, {}] });
    expect((await t.app.orchestrator.read('Thing')).flatMap((instance) => instance.ids).sort()).toEqual([
      'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51',
      'c0ffee00-1234-4abc-9def-00112233aabb',
    ]);
  });

  it('unassigns the ids, reporting those that were not assigned', async () => {
    await t.app.orchestrator.assign('Thing', ['a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51']);

    const response = await handleHttp(t.app, fixture('http-api-v2-delete-resources-jwt.json'));

    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({
      removed: [{ id: 'a3f9e1c2-7d44-4b1e-8c55-0e9d8b7a6c51' }],
      notAssigned: ['c0ffee00-1234-4abc-9def-00112233aabb'],
    });
    expect((await t.app.orchestrator.read('Thing')).flatMap((instance) => instance.ids)).toEqual([]);
  });

  it('answers 400 naming the position of an invalid id, and writes nothing', async () => {
    const response = await handleHttp(
      t.app,
      request('POST', '/v1/api/orchestrations/Thing/resources', { body: '{"ids":["ok-1","no/slash"]}' }),
    );

    expect(response.statusCode).toBe(400);
    expect(json(response).details.issues).toEqual([{ path: 'ids.1', message: expect.stringContaining('resource id') }]);
    expect(await t.app.orchestrator.read('Thing')).toEqual([]);
  });

  it('answers 400 for an empty id list', async () => {
    const response = await handleHttp(
      t.app,
      request('DELETE', '/v1/api/orchestrations/Thing/resources', { body: '{"ids":[]}' }),
    );

    expect(response.statusCode).toBe(400);
    expect(json(response).details.issues[0].path).toBe('ids');
  });
});

describe('body size', () => {
  it('answers 413 for a body over 1 MiB, before parsing it', async () => {
    const body = `{"ids":["${'x'.repeat(MAX_BODY_BYTES)}"]}`;

    const response = await handleHttp(t.app, request('POST', '/v1/api/orchestrations/Thing/resources', { body }));

    expect(response.statusCode).toBe(413);
    expect(json(response)).toMatchObject({ error: 'PAYLOAD_TOO_LARGE', details: { limit: MAX_BODY_BYTES } });
  });

  it('measures a base64 body by its decoded size', async () => {
    // About 1.2 MiB encoded, 0.9 MiB decoded: within the limit.
    const ids = Array.from({ length: 9000 }, (_, i) => `id-${String(i).padStart(6, '0')}-${'p'.repeat(90)}`);
    const body = JSON.stringify({ ids });
    expect(Buffer.from(body).toString('base64').length).toBeGreaterThan(MAX_BODY_BYTES);

    const response = await handleHttp(
      t.app,
      request('DELETE', '/v1/api/orchestrations/Thing/resources', { body, base64: true }),
    );

    expect(response.statusCode).toBe(200);
    expect(json(response).notAssigned).toHaveLength(9000);
  });
});

describe('routing and failures', () => {
  it('answers 404 for an unknown route', async () => {
    const response = await handleHttp(t.app, request('GET', '/v1/api/things'));

    expect(response.statusCode).toBe(404);
    expect(json(response)).toMatchObject({ error: 'ROUTE_NOT_FOUND' });
  });

  it('answers 405 with Allow for a known path and a wrong method', async () => {
    const response = await handleHttp(t.app, request('PUT', '/v1/api/orchestrations/Thing/resources'));

    expect(response.statusCode).toBe(405);
    expect(response.headers?.Allow).toBe('POST, DELETE');
    expect(json(response)).toMatchObject({ error: 'METHOD_NOT_ALLOWED', details: { allow: 'POST, DELETE' } });
  });

  it('answers 503 when the store goes down under a request', async () => {
    t.store.goDown();

    const response = await handleHttp(t.app, sampleEvent('api-get-orchestration.json'));

    expect(response.statusCode).toBe(503);
    expect(json(response)).toMatchObject({ error: 'STORE_UNAVAILABLE' });
  });

  it('answers 500 with the request id and nothing of the internal error', async () => {
    t.store.fail = () => new Error('EACCES /var/secret/zk.keytab password=hunter2');
    const event = sampleEvent<APIGatewayProxyEventV2>('api-get-orchestration.json');

    const response = await handleHttp(t.app, event);

    expect(response.statusCode).toBe(500);
    expect(json(response)).toEqual({
      error: 'INTERNAL',
      message: `internal error (request ${event.requestContext.requestId})`,
      details: { requestId: event.requestContext.requestId },
    });
    expect(response.body).not.toMatch(/hunter2|keytab|EACCES/);
  });

  it('answers 400 for an event that is not an HTTP API v2 event', async () => {
    const response = await handleHttp(t.app, {
      httpMethod: 'GET',
      path: '/v1/api/health',
    } as unknown as APIGatewayProxyEventV2);

    expect(response.statusCode).toBe(400);
    expect(json(response).error).toBe('INVALID_EVENT');
  });

  it('tolerates a trailing slash', async () => {
    const response = await handleHttp(t.app, request('GET', '/v1/api/health/'));

    expect(response.statusCode).toBe(200);
  });
});

describe('POST /v1/api/orchestrations/{resource}/catalog-check', () => {
  it('asks for a catalog pass of the kind (202), shown by GET until the pass runs', async () => {
    const response = await handleHttp(t.app, request('POST', '/v1/api/orchestrations/Thing/catalog-check'));

    expect(response.statusCode).toBe(202);
    expect(json(response)).toMatchObject({ resource: 'Thing', requested: true, lastPass: null });
    const view = json(await handleHttp(t.app, request('GET', '/v1/api/orchestrations/Thing')));
    expect(view.catalog).toEqual({ lastPass: null, requestedAt: json(response).at });
    expect(await t.app.orchestrator.catalogPassDue('Thing', 60 * 60_000)).toEqual({ due: true, why: 'requested' });
  });

  it('answers 404 for a kind that is not configured, asking for nothing', async () => {
    const response = await handleHttp(t.app, request('POST', '/v1/api/orchestrations/Nope/catalog-check'));

    expect(response.statusCode).toBe(404);
  });
});
