/**
 * Fuzzing the api function (functions/api.ts) with API Gateway HTTP API
 * (payload 2.0) events: broken envelopes, bodies, path ids and options, junk,
 * and random requests on every route. It never throws and never answers 5xx
 * while the store is up; a malformed request gets a 400 whose details name
 * the offending field and changes nothing in the store; a well-formed
 * resources request does what it says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/api.js';
import { MAX_IDS_PER_REQUEST } from '../../lib/handlers/http-bodies.js';
import { anyCodePoint, anyJson, badIdString, notJsonText, resourceIds } from './arbitraries.js';
import { fuzzParameters, fuzzTimeout, KINDS, readAssignments, unchangedStore, useWarmContainer } from './support.js';

const store = useWarmContainer('api');
const unchanged = unchangedStore(store);

/* -------------------------------------------------------------- events */

const BASE = '/v1/api/orchestrations';

interface RequestShape {
  readonly method: string;
  readonly rawPath: string;
  readonly body?: string | undefined;
  readonly base64?: boolean;
  readonly rawQueryString?: string;
}

/** An event as API Gateway sends it (IAM authorizer, payload 2.0). */
function httpEvent({ method, rawPath, body, base64 = false, rawQueryString = '' }: RequestShape) {
  const encoded = body !== undefined && base64 ? Buffer.from(body, 'utf8').toString('base64') : body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { accept: 'application/json', 'content-type': 'application/json', host: 'api.example.com' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'k3x9q2w7e1',
      domainName: 'api.example.com',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '198.51.100.23', userAgent: 'fuzz' },
      requestId: 'fuzz-request',
      routeKey: '$default',
      stage: '$default',
      time: '01/May/2024:08:00:00 +0000',
      timeEpoch: 1714550400000,
    },
    ...(encoded === undefined ? {} : { body: encoded }),
    isBase64Encoded: base64,
  };
}

/** What the answer must be: a 400 naming `field` (its error code when it names none), or any non-5xx answer. */
type Expected =
  | { readonly answer: 'invalid'; readonly field: string; readonly code?: string; readonly mentions?: string }
  | { readonly answer: 'any' }
  | { readonly answer: 'assigned' | 'unassigned'; readonly resource: string; readonly ids: readonly string[] };

interface Generated {
  readonly event: unknown;
  readonly expected: Expected;
}

const kind = fc.constantFrom(...KINDS);
const encoding = fc.boolean();

/** Not a resource id in a JSON body: bad text, or another type. */
const badBodyId = fc.oneof(badIdString, fc.constantFrom<unknown>(5, null, true, {}, [], ['t-0']));

/** A request body that is wrong in one place, and the field the 400 must name. */
interface BadBody {
  readonly text: string;
  readonly field: string;
  readonly code?: string;
  /** A key the message must quote. */
  readonly mentions?: string;
}

/** POST/DELETE …/resources with a body that is wrong in one place. */
const badResourcesBody: fc.Arbitrary<Generated> = fc
  .record({
    method: fc.constantFrom('POST', 'DELETE'),
    resource: kind,
    base64: encoding,
    body: fc.oneof(
      fc
        .record({
          before: fc.array(fc.constantFrom('t-0', 'a:b'), { maxLength: 3 }),
          bad: badBodyId,
          after: resourceIds,
        })
        .map(({ before, bad, after }) => ({
          text: JSON.stringify({ ids: [...before, bad, ...after] }),
          field: `ids.${before.length}`,
        })),
      fc
        .constantFrom<unknown>([], 't-0', 5, null, {}, true)
        .map((ids) => ({ text: JSON.stringify({ ids }), field: 'ids' })),
      fc.constant({ text: '{}', field: 'ids' }),
      fc.constant({
        text: JSON.stringify({ ids: Array.from({ length: MAX_IDS_PER_REQUEST + 1 }, (_, i) => `t-${i}`) }),
        field: 'ids',
      }),
      fc
        .string({ minLength: 1, maxLength: 6 })
        .filter((key) => key !== 'ids')
        .map((key) => ({ text: JSON.stringify({ ids: ['t-0'], [key]: 1 }), field: '', mentions: key })),
      fc.constantFrom('[]', '5', '"t-0"', 'null', 'true').map((text) => ({ text, field: '' })),
      notJsonText.filter((text) => text.trim() !== '').map((text) => ({ text, field: '', code: 'INVALID_JSON' })),
    ),
  })
  .map(({ method, resource, base64, body: { text, ...expected } }) => ({
    event: httpEvent({ method, rawPath: `${BASE}/${resource}/resources`, body: text, base64 }),
    expected: { answer: 'invalid', ...expected },
  }));

/** POST …/orchestrate with one option of the wrong type or out of its legacy range, or a field it does not know. */
const badOrchestrateBody: fc.Arbitrary<Generated> = fc
  .record({
    resource: kind,
    base64: encoding,
    body: fc.oneof<fc.Arbitrary<BadBody>[]>(
      fc
        .record({
          field: fc.constantFrom('initInstances', 'maxInstances', 'resourcePerInstance'),
          value: fc.constantFrom<unknown>('3', true, {}, [5]),
        })
        .map(({ field, value }) => ({ text: JSON.stringify({ [field]: value }), field })),
      fc
        .constantFrom<[string, number]>(
          ['maxInstances', 2],
          ['maxInstances', 100],
          ['maxInstances', 3.5],
          ['maxInstances', -1],
          ['resourcePerInstance', 0],
          ['resourcePerInstance', 5000],
          ['resourcePerInstance', 1.5],
          ['initInstances', 0],
          ['initInstances', 101],
          ['initInstances', 2.5],
        )
        .map(([field, value]) => ({ text: JSON.stringify({ [field]: value }), field })),
      fc
        .constantFrom('instances', 'InitInstances', 'max')
        .map((key) => ({ text: JSON.stringify({ [key]: 3 }), field: '', mentions: key })),
    ),
  })
  .map(({ resource, base64, body: { text, ...expected } }) => ({
    event: httpEvent({ method: 'POST', rawPath: `${BASE}/${resource}/orchestrate`, body: text, base64 }),
    expected: { answer: 'invalid', ...expected },
  }));

/** GET …/{id}/instances with an id that is not a resource id, or a path segment that is not percent-encoding. */
const badPathId = fc.oneof<fc.Arbitrary<Generated>[]>(
  fc.record({ resource: kind, id: badIdString.filter((id) => id !== '') }).map(({ resource, id }) => ({
    event: httpEvent({ method: 'GET', rawPath: `${BASE}/${resource}/${encodeURIComponent(id)}/instances` }),
    expected: { answer: 'invalid', field: 'id' },
  })),
  fc.record({ resource: kind, id: fc.constantFrom('%', '%zz', 'a%2', '%E0%A4%A') }).map(({ resource, id }) => ({
    event: httpEvent({ method: 'GET', rawPath: `${BASE}/${resource}/${id}/instances` }),
    expected: { answer: 'invalid', field: 'path.4' },
  })),
);

/** A field of the envelope set to a value of the wrong type or form (`undefined`: removed). */
const ENVELOPE_FLAWS: ReadonlyArray<readonly [string, unknown]> = [
  ['version', '1.0'],
  ['version', 2],
  ['version', undefined],
  ['routeKey', 5],
  ['routeKey', undefined],
  ['rawPath', 'v1/api/health'],
  ['rawPath', 5],
  ['rawPath', undefined],
  ['rawQueryString', 5],
  ['headers', 'accept: */*'],
  ['headers.accept', 5],
  ['queryStringParameters', { plan: ['full'] }],
  ['body', 5],
  ['body', { ids: ['t-0'] }],
  ['isBase64Encoded', 'false'],
  ['requestContext', undefined],
  ['requestContext', 'fuzz'],
  ['requestContext.requestId', ''],
  ['requestContext.requestId', 5],
  ['requestContext.http', undefined],
  ['requestContext.http.method', ''],
  ['requestContext.http.method', 5],
  ['requestContext.http.path', 'no-slash'],
];

function withFlaw(event: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  const copy = { ...event };
  if (rest.length > 0) copy[head] = withFlaw(copy[head] as Record<string, unknown>, rest.join('.'), value);
  else if (value === undefined) delete copy[head];
  else copy[head] = value;
  return copy;
}

const badEnvelope: fc.Arbitrary<Generated> = fc
  .record({
    request: fc.constantFrom<RequestShape>(
      { method: 'GET', rawPath: '/v1/api/health' },
      { method: 'POST', rawPath: `${BASE}/Thing/resources`, body: '{"ids":["t-0"]}' },
      { method: 'DELETE', rawPath: `${BASE}/Rule/resources`, body: '{"ids":["t-1"]}' },
    ),
    flaw: fc.constantFrom(...ENVELOPE_FLAWS),
  })
  .map(({ request, flaw: [path, value] }) => ({
    event: withFlaw(httpEvent(request), path, value),
    expected: { answer: 'invalid', field: path, code: 'INVALID_EVENT' },
  }));

/** Requests on every route and beside them: any method, kind, id, query and body. */
const randomRequest: fc.Arbitrary<Generated> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'get', 'post', 'Delete', 'HEAD'),
    path: fc.oneof(
      fc.constantFrom(
        '/',
        '/dashboard',
        '/v1/api/health',
        BASE,
        '/v1/api',
        '/v1',
        '//',
        `${BASE}/`,
        '/../v1/api/health',
      ),
      fc
        .record({
          resource: fc.oneof(kind, fc.constantFrom('Device', 'thing', '%54hing', '..', '%2F')),
          tail: fc.constantFrom('', '/orchestrate', '/resources', '/catalog-check', '/t-0/instances', '/t-0', '/x/y/z'),
        })
        .map(({ resource, tail }) => `${BASE}/${resource}${tail}`),
      fc.webPath(),
    ),
    query: fc.constantFrom('', 'plan=full', 'plan', '%zz=1', 'a=1&a=2'),
    body: fc.option(
      fc.oneof(
        anyJson.map((json) => JSON.stringify(json)),
        fc.string({ unit: anyCodePoint, maxLength: 20 }),
      ),
      {
        nil: undefined,
      },
    ),
    base64: encoding,
  })
  .map(({ method, path, query, body, base64 }) => ({
    event: httpEvent({ method, rawPath: path, rawQueryString: query, body, base64 }),
    expected: { answer: 'any' },
  }));

const junk: fc.Arbitrary<Generated> = fc
  .oneof(anyJson, fc.constant(undefined))
  .map((event) => ({ event, expected: { answer: 'any' } }));

/** Well-formed resources requests: they must do what they say. */
const resourcesRequest: fc.Arbitrary<Generated> = fc
  .record({ method: fc.constantFrom('POST', 'DELETE'), resource: kind, ids: resourceIds, base64: encoding })
  .map(({ method, resource, ids, base64 }) => ({
    event: httpEvent({ method, rawPath: `${BASE}/${resource}/resources`, body: JSON.stringify({ ids }), base64 }),
    expected: { answer: method === 'POST' ? 'assigned' : 'unassigned', resource, ids },
  }));

const request = fc.oneof(
  badResourcesBody,
  badOrchestrateBody,
  badPathId,
  badEnvelope,
  randomRequest,
  junk,
  resourcesRequest,
);

/* ------------------------------------------------------------- judging */

interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly details: { readonly issues?: ReadonlyArray<{ path: string; message: string }>; readonly field?: string };
}

/** The fields an error body names: each issue's path, or the option it is about. */
const namedFields = (body: ErrorBody): string[] => [
  ...(body.details.issues ?? []).map((issue) => issue.path),
  ...(body.details.field === undefined ? [] : [body.details.field]),
];

const names = (named: string, field: string): boolean =>
  named === field || (field !== '' && named.startsWith(`${field}.`));

describe('api function under fuzzed HTTP API events', () => {
  it('never answers 5xx; refuses malformed requests with a 400 naming the field, writing nothing', {
    timeout: fuzzTimeout(10),
  }, async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ event, expected }) => {
        const writes = expected.answer === 'assigned' || expected.answer === 'unassigned';
        // A refused request is checked; one that may write (2xx) is not.
        const expectUnchanged = await unchanged.start(!writes);

        const response = await handler(event as Parameters<typeof handler>[0]);

        expect(response.statusCode, response.body).toBeLessThan(500);
        const isJson = response.headers?.['Content-Type'] === 'application/json';
        const body = isJson ? (JSON.parse(response.body ?? '') as ErrorBody) : undefined;
        if (response.statusCode! >= 400) {
          expect(body, 'an error answer is JSON').toMatchObject({
            error: expect.any(String),
            message: expect.any(String),
            details: expect.any(Object),
          });
          // A refused request changes nothing.
          if (!writes) await expectUnchanged();
        }
        if (expected.answer === 'invalid') {
          expect(response.statusCode, response.body).toBe(400);
          if (expected.code) expect(body!.error).toBe(expected.code);
          if (expected.code !== 'INVALID_JSON')
            expect(
              namedFields(body!).some((named) => names(named, expected.field)),
              response.body,
            ).toBe(true);
          if (expected.field !== '' && expected.code !== 'INVALID_EVENT')
            expect(body!.message).toContain(expected.field);
          if (expected.mentions) expect(body!.message).toContain(expected.mentions);
        }
        if (expected.answer === 'assigned' || expected.answer === 'unassigned') {
          expect(response.statusCode, response.body).toBe(200);
          const assigned = await readAssignments(store(), expected.resource);
          for (const id of expected.ids) expect(assigned.has(id), id).toBe(expected.answer === 'assigned');
        }
      }),
      fuzzParameters(),
    );
  });
});
