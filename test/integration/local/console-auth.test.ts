/**
 * npm start's stand-in for the JWT authorizer, against a real issuer over
 * HTTP (its discovery document and JWKS served on a free port): what API
 * Gateway accepts passes with its claims, every rule it applies refuses the
 * token that breaks it, time taken from the injected clock.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleSignIn } from '../../../lib/config/console.js';
import { type Authorized, consoleAuthorizer } from '../../../lib/local/auth.js';
import { toHttpApiEvent } from '../../../lib/local/http-server.js';

const NOW = 1_800_000_000_000;
const seconds = (ms: number) => Math.floor(ms / 1000);
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

let server: Server;
let issuer: string;
let signingKey: Key;
let strangerKey: Key;
let discoveries = 0;

beforeAll(async () => {
  const [published, stranger] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('RS256')]);
  signingKey = published.privateKey;
  strangerKey = stranger.privateKey;
  const jwks = { keys: [{ ...(await exportJWK(published.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' }] };
  server = createServer((request, response) => {
    if (request.url === '/pool/.well-known/openid-configuration') discoveries++;
    const body =
      request.url === '/pool/.well-known/openid-configuration'
        ? { issuer, jwks_uri: `${issuer}/jwks` }
        : request.url === '/pool/jwks'
          ? jwks
          : undefined;
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pool`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const signIn = (): ConsoleSignIn => ({ issuer, clientId: 'iota-console', audience: ['iota-api'], scope: 'openid' });

/** A token as the issuer signs one, valid at NOW unless `claims` or `header` say otherwise. */
function token(claims: JWTPayload = {}, options: { key?: Key; kid?: string | null } = {}): Promise<string> {
  const kid = options.kid === undefined ? 'key-1' : options.kid;
  return new SignJWT({
    iss: issuer,
    aud: 'iota-api',
    sub: 'operator-7',
    client_id: 'iota-console',
    iat: seconds(NOW) - 10,
    exp: seconds(NOW) + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', ...(kid === null ? {} : { kid }) })
    .sign(options.key ?? signingKey);
}

const event = (path: string, authorization?: string, sourceIp = '127.0.0.1'): APIGatewayProxyEventV2 =>
  toHttpApiEvent({
    method: 'GET',
    url: path,
    headers: authorization === undefined ? {} : { authorization: [authorization] },
    body: '',
    sourceIp,
    requestId: 'r-1',
    now: NOW,
  });

const CONSOLE = '/console/v1/api/orchestrations';
const status = (result: Authorized) => ('refusal' in result ? result.refusal.statusCode : 200);
const why = (result: Authorized) => ('refusal' in result ? result.refusal.headers?.['www-authenticate'] : undefined);

describe('with an issuer', () => {
  const authorize = (request: APIGatewayProxyEventV2, at = NOW) => consoleAuthorizer(signIn(), () => at)(request);

  it('passes a valid token, with or without "Bearer", handing its claims on as API Gateway does', async () => {
    const valid = await token();

    const passed = await authorize(event(CONSOLE, `Bearer ${valid}`));
    const bare = await authorize(event(CONSOLE, valid));

    expect('event' in passed && passed.event.requestContext).toMatchObject({
      authorizer: { jwt: { claims: { sub: 'operator-7', aud: 'iota-api', iss: issuer }, scopes: null } },
    });
    expect(status(bare)).toBe(200);
  });

  it('refuses a request without a token: 401, Unauthorized', async () => {
    const result = await authorize(event(CONSOLE));

    expect('refusal' in result && result.refusal).toMatchObject({
      statusCode: 401,
      body: '{"message":"Unauthorized"}',
    });
    expect(status(await authorize(event(CONSOLE, 'Bearer ')))).toBe(401);
  });

  it('refuses an expired token from the second it expires, by the injected clock', async () => {
    const valid = await token({ exp: seconds(NOW) + 60 });

    expect(status(await authorize(event(CONSOLE, `Bearer ${valid}`), NOW + 59_000))).toBe(200);
    const late = await authorize(event(CONSOLE, `Bearer ${valid}`), NOW + 60_000);
    expect(status(late)).toBe(401);
    expect(why(late)).toMatch(/^Bearer scope="" error="invalid_token" error_description=".*exp/);
  });

  it.each([
    ['not yet valid (nbf)', { nbf: seconds(NOW) + 60 }],
    ['issued in the future (iat)', { iat: seconds(NOW) + 60 }],
    ['without an expiry', { exp: undefined }],
    ['from another issuer', { iss: 'https://elsewhere.example.com/pool' }],
    ['for another audience', { aud: 'other-api' }],
    ['with an aud that misses, whatever its client_id', { aud: 'other-api', client_id: 'iota-api' }],
    ['without aud, for another client', { aud: undefined, client_id: 'other-client' }],
  ])('refuses a token %s', async (_, claims) => {
    const result = await authorize(event(CONSOLE, `Bearer ${await token(claims)}`));

    expect(status(result)).toBe(401);
    expect(why(result)).toContain('error="invalid_token"');
  });

  it("passes a token without aud whose client_id is an audience (a Cognito access token's shape)", async () => {
    const result = await authorize(event(CONSOLE, `Bearer ${await token({ aud: undefined, client_id: 'iota-api' })}`));

    expect(status(result)).toBe(200);
  });

  it('refuses a token signed by a key the issuer does not publish, or naming no key', async () => {
    expect(status(await authorize(event(CONSOLE, `Bearer ${await token({}, { key: strangerKey })}`)))).toBe(401);
    expect(status(await authorize(event(CONSOLE, `Bearer ${await token({}, { kid: null })}`)))).toBe(401);
    expect(status(await authorize(event(CONSOLE, `Bearer ${await token({}, { kid: 'key-2' })}`)))).toBe(401);
  });

  it('refuses a token signed with a symmetric key: RSA only', async () => {
    const hmac = await new SignJWT({ iss: issuer, aud: 'iota-api', exp: seconds(NOW) + 300 })
      .setProtectedHeader({ alg: 'HS256', kid: 'key-1' })
      .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!'));

    expect(status(await authorize(event(CONSOLE, `Bearer ${hmac}`)))).toBe(401);
  });

  it('reads the discovery document once, and leaves the machine routes and the page to their own authorizers', async () => {
    const authorizer = consoleAuthorizer(signIn(), () => NOW);
    const before = discoveries;
    for (let i = 0; i < 3; i++) await authorizer(event(CONSOLE, `Bearer ${await token()}`));

    expect(discoveries - before).toBe(1);
    expect(status(await authorizer(event('/v1/api/orchestrations')))).toBe(200);
    expect(status(await authorizer(event('/')))).toBe(200);
    expect(status(await authorizer(event('/console/assets/console.js')))).toBe(200);
  });
});

describe('without an issuer', () => {
  it('serves the console to loopback callers alone', async () => {
    const authorize = consoleAuthorizer(undefined);

    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1'])
      expect(status(await authorize(event(CONSOLE, undefined, ip))), ip).toBe(200);
    const remote = await authorize(event(CONSOLE, undefined, '192.168.1.20'));
    expect('refusal' in remote && remote.refusal).toMatchObject({ statusCode: 403, body: '{"message":"Forbidden"}' });
  });
});
