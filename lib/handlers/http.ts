/**
 * The REST API (SPEC §4, legacy paths kept) and the dashboard, as one router
 * over API Gateway HTTP API events (payload format 2.0). The `api` Lambda and
 * the local runtime both call `handleHttp`.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { App } from '../app.js';
import { alertMessage } from '../alerts.js';
import { consoleAsset } from '../dashboard/assets.js';
import { renderDashboard } from '../dashboard/page.js';
import { INSTANCE_ID } from '../domain/orchestration.js';
import { nodeCrypto } from '../lazy-crypto.js';
import type { Logger } from '../log.js';
import type { OrchestrateResult } from '../orchestration/types.js';
import { fieldIssues, HttpApiEventSchema, ResourceIdSchema, type HttpApiEvent } from './events.js';
import { jsonBody, OrchestrateBodySchema, ResourcesBodySchema } from './http-bodies.js';
import { HttpError, invalidRequest, jsonResponse, toErrorResponse } from './http-errors.js';
import { podLimitGuard } from './pod-limit.js';
import { AlertsQuerySchema, parseQuery, ResourcePageQuerySchema } from './queries.js';

type Method = 'GET' | 'POST' | 'DELETE';

interface RouteContext {
  readonly app: App;
  readonly event: HttpApiEvent;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly requestId: string;
  readonly log: Logger;
}

type RouteHandler = (context: RouteContext) => Promise<APIGatewayProxyStructuredResultV2>;

interface Route {
  /** Segments; `{name}` captures one. */
  readonly path: string;
  readonly methods: Partial<Record<Method, RouteHandler>>;
}

/* --------------------------------------------------------------- routes */

/** 404 for a kind that is not configured, before anything else is read. */
const kindOf = (context: RouteContext) => context.app.orchestrator.kind(context.params.resource ?? '');

const ok = (context: RouteContext, body: unknown, status = 200) => jsonResponse(status, body, context.requestId);

function orchestrateBody(result: OrchestrateResult, fullPlan: boolean) {
  return {
    resource: result.resource,
    instances: result.instances,
    resourcePerInstance: result.resourcePerInstance,
    spreadPerInstance: result.spreadPerInstance,
    before: result.before,
    after: result.after,
    moved: result.moved,
    minimumMoves: result.minimumMoves,
    replans: result.replans,
    placedPending: result.placedPending,
    // The full plan can list every moved id; by default only the counts per move.
    plan: result.plan.map((move) => (fullPlan ? move : { from: move.from, to: move.to, count: move.ids.length })),
  };
}

const dashboard: RouteHandler = async (context) => ({
  statusCode: 200,
  headers: {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Request-Id': context.requestId,
  },
  // Static: the page holds no data, so it needs no authorizer; it signs in and calls the console routes.
  body: renderDashboard({
    api: CONSOLE_API_ROOT,
    signIn: context.app.consoleSignIn
      ? {
          issuer: context.app.consoleSignIn.issuer,
          clientId: context.app.consoleSignIn.clientId,
          scope: context.app.consoleSignIn.scope,
        }
      : null,
  }),
});

/** The console's static files (lib/dashboard/assets.ts), revalidated by ETag. */
const asset: RouteHandler = async (context) => {
  const name = context.params.name ?? '';
  const found = consoleAsset(name);
  if (!found) throw new HttpError(404, 'ASSET_NOT_FOUND', `no console asset named ${name}`, { name });
  const headers = {
    'Content-Type': found.contentType,
    'Cache-Control': 'no-cache',
    ETag: found.etag,
    'X-Content-Type-Options': 'nosniff',
    'X-Request-Id': context.requestId,
  };
  const cached = (context.event.headers['if-none-match'] ?? '').split(',').map((tag) => tag.trim());
  if (cached.includes(found.etag)) return { statusCode: 304, headers };
  return { statusCode: 200, headers, body: found.body };
};

const health: RouteHandler = async (context) => {
  const backend = context.app.store.description;
  try {
    await context.app.orchestrator.ping();
    return ok(context, { status: 'ok', store: { reachable: true, backend } });
  } catch (error) {
    context.log.error({ requestId: context.requestId, err: error }, 'health check: store unreachable');
    return jsonResponse(503, { status: 'unavailable', store: { reachable: false, backend } }, context.requestId, {
      'Retry-After': '5',
    });
  }
};

/** The configured kinds, so clients (the dashboard) need not hard-code Thing and Rule. */
const listKinds: RouteHandler = async (context) =>
  ok(context, {
    kinds: context.app.kinds.map(({ resource, instanceName, heartbeat, initInstances }) => ({
      resource,
      instanceName,
      heartbeat,
      initInstances,
    })),
  });

const describeOrchestration: RouteHandler = async (context) => {
  const kind = kindOf(context);
  return ok(context, await context.app.orchestrator.describe(kind.resource));
};

const orchestrate: RouteHandler = async (context) => {
  const kind = kindOf(context);
  const options = jsonBody(context.event, OrchestrateBodySchema);
  // The request id holds the lease: a concurrent orchestrate gets 409 naming it.
  const result = await context.app.orchestrator.orchestrate(
    kind.resource,
    options,
    context.requestId,
    await podLimitGuard(context.app, kind),
  );
  context.log.info(
    { requestId: context.requestId, resource: kind.resource, instances: result.instances, moved: result.moved },
    'orchestrated',
  );
  return ok(context, orchestrateBody(result, context.query.get('plan') === 'full'));
};

const locate: RouteHandler = async (context) => {
  const kind = kindOf(context);
  const id = ResourceIdSchema.safeParse(context.params.id);
  if (!id.success) throw invalidRequest(fieldIssues(id.error, ['id']), 'path');
  const instanceId = await context.app.orchestrator.locate(kind.resource, id.data);
  if (instanceId === undefined) {
    throw new HttpError(404, 'NOT_ASSIGNED', `${kind.resource} ${id.data} is not assigned to any instance`, {
      resource: kind.resource,
      id: id.data,
    });
  }
  return ok(context, { runIn: instanceId });
};

/** One instance: counters, pod, heartbeat, last reconcile record, and a page of its resource ids. */
const describeInstance: RouteHandler = async (context) => {
  const kind = kindOf(context);
  const instanceId = context.params.instanceId ?? '';
  if (!INSTANCE_ID.test(instanceId))
    throw invalidRequest(
      [{ path: 'instanceId', message: 'an instance id is 0 or a whole number without leading zeros' }],
      'path',
    );
  const { limit, cursor, q } = parseQuery(ResourcePageQuerySchema, context.query);
  const detail = await context.app.orchestrator.describeInstance(kind.resource, instanceId, {
    limit,
    cursor,
    query: q,
  });
  if (!detail) {
    throw new HttpError(404, 'INSTANCE_NOT_FOUND', `${kind.resource} has no instance ${instanceId}`, {
      resource: kind.resource,
      instanceId,
    });
  }
  return ok(context, detail);
};

/** The newest alerts kept in the store (lib/orchestration/alert-outbox.ts), newest first, each with its text. */
const listAlerts: RouteHandler = async (context) => {
  const { limit } = parseQuery(AlertsQuerySchema, context.query);
  const stored = await context.app.alertOutbox.list();
  const alerts = stored
    .slice(-limit)
    .reverse()
    .map(({ name, alert, delivered }) => {
      const { level, title, content } = alertMessage(alert);
      return {
        id: name,
        type: alert.type,
        level,
        resource: alert.resource,
        at: alert.at,
        title,
        content,
        delivered,
        detail: alert,
      };
    });
  return ok(context, { alerts, kept: stored.length });
};

const addResources: RouteHandler = async (context) => {
  const kind = kindOf(context);
  const { ids } = jsonBody(context.event, ResourcesBodySchema);
  return ok(context, { resource: kind.resource, ...(await context.app.orchestrator.assign(kind.resource, ids)) });
};

const removeResources: RouteHandler = async (context) => {
  const kind = kindOf(context);
  const { ids } = jsonBody(context.event, ResourcesBodySchema);
  return ok(context, { resource: kind.resource, ...(await context.app.orchestrator.unassign(kind.resource, ids)) });
};

/** Asks for a catalog pass of the kind; the `catalog` function runs it within a minute. */
const requestCatalogCheck: RouteHandler = async (context) => {
  const kind = kindOf(context);
  const { at } = await context.app.orchestrator.requestCatalogPass(
    kind.resource,
    `requested through the API (${context.requestId})`,
  );
  return jsonResponse(
    202,
    {
      resource: kind.resource,
      requested: true,
      at,
      lastPass: (await context.app.orchestrator.lastCatalogPass(kind.resource)) ?? null,
    },
    context.requestId,
  );
};

/** Routes anyone may call: the page and its static files, no data in either. */
const PUBLIC_ROUTES: readonly Route[] = [
  { path: '/', methods: { GET: dashboard } },
  { path: '/dashboard', methods: { GET: dashboard } },
  { path: '/console/assets/{name}', methods: { GET: asset } },
];

/** The API as machines call it (legacy paths, SPEC §4); deployed, behind IAM. */
const API_ROUTES: readonly Route[] = [
  { path: '/v1/api/health', methods: { GET: health } },
  { path: '/v1/api/orchestrations', methods: { GET: listKinds } },
  { path: '/v1/api/orchestrations/{resource}', methods: { GET: describeOrchestration } },
  { path: '/v1/api/orchestrations/{resource}/orchestrate', methods: { POST: orchestrate } },
  { path: '/v1/api/orchestrations/{resource}/resources', methods: { POST: addResources, DELETE: removeResources } },
  { path: '/v1/api/orchestrations/{resource}/catalog-check', methods: { POST: requestCatalogCheck } },
  { path: '/v1/api/orchestrations/{resource}/{id}/instances', methods: { GET: locate } },
  // After locate: a Thing named "instances" keeps its legacy route (`…/Thing/instances/instances`).
  { path: '/v1/api/orchestrations/{resource}/instances/{instanceId}', methods: { GET: describeInstance } },
  { path: '/v1/api/alerts', methods: { GET: listAlerts } },
];

/**
 * The same API under this root for the console: deployed, these routes take the JWT of a person signed in
 * with OpenID Connect while the machine routes keep IAM (README "The console").
 */
export const CONSOLE_API_ROOT = '/console/v1/api';
const CONSOLE_ROUTES: readonly Route[] = API_ROUTES.map((route) => ({
  ...route,
  path: `${CONSOLE_API_ROOT}${route.path.slice('/v1/api'.length)}`,
}));

const ROUTES: readonly Route[] = [...PUBLIC_ROUTES, ...API_ROUTES, ...CONSOLE_ROUTES];

const routeKeys = (routes: readonly Route[]): string[] =>
  routes.flatMap((route) => Object.keys(route.methods).map((method) => `${method} ${route.path}`));

/** The route keys of each audience, as serverless.yml authorizes them: none, IAM (or apiAuth), JWT. */
export const ROUTE_KEYS_BY_ACCESS = {
  public: routeKeys(PUBLIC_ROUTES),
  machine: routeKeys(API_ROUTES),
  console: routeKeys(CONSOLE_ROUTES),
} as const;

/** Every (method, path) the router serves, in API Gateway route-key form: "GET /v1/api/health". */
export const API_ROUTE_KEYS: readonly string[] = routeKeys(ROUTES);

const segmentsOf = (path: string): string[] => path.split('/').filter((segment) => segment !== '');

/** The route for a path (literal segments beat captures), with its captured parameters. */
function match(path: string): { route: Route; params: Record<string, string> } | undefined {
  const segments = segmentsOf(path).map((segment, index) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw invalidRequest([{ path: `path.${index}`, message: 'malformed percent-encoding' }], 'path');
    }
  });
  let best: { route: Route; params: Record<string, string>; literals: number } | undefined;
  for (const route of ROUTES) {
    const pattern = segmentsOf(route.path);
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let literals = 0;
    const fits = pattern.every((part, index) => {
      const segment = segments[index] as string;
      if (part.startsWith('{')) {
        params[part.slice(1, -1)] = segment;
        return true;
      }
      literals++;
      return part === segment;
    });
    if (fits && (!best || literals > best.literals)) best = { route, params, literals };
  }
  return best;
}

/** The whole API: one HTTP API v2 event in, one response out. Never throws. */
export async function handleHttp(app: App, event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const log = app.logger.child({ handler: 'api' });
  const requestId = (event as { requestContext?: { requestId?: unknown } } | undefined)?.requestContext?.requestId;
  const id = typeof requestId === 'string' && requestId !== '' ? requestId : nodeCrypto().randomUUID();
  let field: string | undefined;
  try {
    const parsed = HttpApiEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new HttpError(400, 'INVALID_EVENT', 'not an API Gateway HTTP API (payload 2.0) event', {
        issues: fieldIssues(parsed.error),
      });
    }
    const request = parsed.data;
    const method = request.requestContext.http.method.toUpperCase();
    const found = match(request.rawPath);
    if (!found)
      throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route for ${method} ${request.rawPath}`, {
        method,
        path: request.rawPath,
      });
    const handler = found.route.methods[method as Method];
    if (!handler) {
      const allow = Object.keys(found.route.methods).join(', ');
      throw new HttpError(
        405,
        'METHOD_NOT_ALLOWED',
        `${method} is not allowed on ${request.rawPath}`,
        { method, allow },
        { Allow: allow },
      );
    }
    field = found.params.id !== undefined ? 'id' : 'ids';
    return await handler({
      app,
      event: request,
      params: found.params,
      query: new URLSearchParams(request.rawQueryString),
      requestId: id,
      log,
    });
  } catch (error) {
    return toErrorResponse(error, { requestId: id, logger: log, field });
  }
}
