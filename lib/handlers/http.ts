/**
 * The REST API (SPEC §4, legacy paths kept) and the dashboard, as one router
 * over API Gateway HTTP API events (payload format 2.0). The `api` Lambda and
 * the local runtime both call `handleHttp`.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod';
import type { App } from '../app.js';
import { renderDashboard } from '../dashboard/page.js';
import type { Logger } from '../log.js';
import type { OrchestrateResult } from '../orchestration/types.js';
import { fieldIssues, HttpApiEventSchema, ResourceIdSchema, type HttpApiEvent } from './events.js';
import { HttpError, invalidRequest, jsonResponse, toErrorResponse } from './http-errors.js';

/** Bodies above this are refused before they are decoded or parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Ids per POST/DELETE …/resources request (one instance holds at most 5000). */
export const MAX_IDS_PER_REQUEST = 10_000;

/** Absent or null fields take the legacy defaults; ranges are the domain's to check (InvalidOptionError). */
const optionalNumber = z
  .number({ error: 'expected a number' })
  .nullish()
  .transform((value) => value ?? undefined);
export const OrchestrateBodySchema = z.strictObject({
  initInstances: optionalNumber,
  maxInstances: optionalNumber,
  resourcePerInstance: optionalNumber,
});

export const ResourcesBodySchema = z.strictObject({
  ids: z
    .array(ResourceIdSchema)
    .min(1, 'ids must name at least one resource')
    .max(MAX_IDS_PER_REQUEST, `at most ${MAX_IDS_PER_REQUEST} ids per request`),
});

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

/* --------------------------------------------------------------- bodies */

/** The body as text, refusing oversize bodies before decoding them. */
function bodyText(event: HttpApiEvent): string {
  const body = event.body ?? '';
  const size = event.isBase64Encoded ? Buffer.byteLength(body, 'base64') : Buffer.byteLength(body, 'utf8');
  if (size > MAX_BODY_BYTES) {
    throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is ${size} bytes; the limit is ${MAX_BODY_BYTES}`, {
      size,
      limit: MAX_BODY_BYTES,
    });
  }
  return event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

/** Parses the JSON body with `schema`; an empty body reads as `{}` (the legacy console sent none). */
function jsonBody<T>(event: HttpApiEvent, schema: z.ZodType<T>): T {
  const text = bodyText(event);
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, 'INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(fieldIssues(result.error), 'body');
  return result.data;
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
  body: renderDashboard(),
});

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
  const result = await context.app.orchestrator.orchestrate(kind.resource, options, context.requestId);
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

const ROUTES: readonly Route[] = [
  { path: '/', methods: { GET: dashboard } },
  { path: '/dashboard', methods: { GET: dashboard } },
  { path: '/v1/api/health', methods: { GET: health } },
  { path: '/v1/api/orchestrations', methods: { GET: listKinds } },
  { path: '/v1/api/orchestrations/{resource}', methods: { GET: describeOrchestration } },
  { path: '/v1/api/orchestrations/{resource}/orchestrate', methods: { POST: orchestrate } },
  { path: '/v1/api/orchestrations/{resource}/resources', methods: { POST: addResources, DELETE: removeResources } },
  { path: '/v1/api/orchestrations/{resource}/catalog-check', methods: { POST: requestCatalogCheck } },
  { path: '/v1/api/orchestrations/{resource}/{id}/instances', methods: { GET: locate } },
];

/** Every (method, path) the router serves, in API Gateway route-key form: "GET /v1/api/health". */
export const API_ROUTE_KEYS: readonly string[] = ROUTES.flatMap((route) =>
  Object.keys(route.methods).map((method) => `${method} ${route.path}`),
);

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
  const id = typeof requestId === 'string' && requestId !== '' ? requestId : randomUUID();
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
