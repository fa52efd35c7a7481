/**
 * `npm start`'s stand-in for the HTTP API's JWT authorizer on the console's
 * routes (`/console/v1/api/…`), so the console signs in locally exactly as
 * deployed. With an issuer configured (CONSOLE_OIDC_ISSUER) a request passes
 * only with a token API Gateway would accept:
 *
 * 1. in `Authorization`, alone or after "Bearer ";
 * 2. signed with an RSA algorithm by a key of the issuer's JWKS (its
 *    `jwks_uri`, from `/.well-known/openid-configuration`, kept 2 hours), the
 *    key named by the token's `kid`;
 * 3. `iss` the issuer exactly; `aud` naming one of the audiences or, only
 *    when the token has no `aud`, `client_id` doing so;
 * 4. `exp` after now (a token without one is refused), `nbf` and `iat` not
 *    after now.
 *
 * Refused: 401 `{"message":"Unauthorized"}` with a `www-authenticate` that
 * says why, as API Gateway answers. Passed: the event carries the claims in
 * `requestContext.authorizer.jwt`, as API Gateway hands them to the Lambda.
 * Without an issuer the console does not sign in and is served to loopback
 * callers alone (403 for any other). The machine routes are not checked
 * here: IAM has no local equivalent, and the server listens on loopback.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createRemoteJWKSet, type JWSHeaderParameters, type JWTPayload, jwtVerify } from 'jose';
import { type Clock, systemClock } from '../clock.js';
import type { ConsoleSignIn } from '../config/console.js';
import { CONSOLE_API_ROOT } from '../handlers/http.js';

/** What API Gateway supports: RSA signatures only. */
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
/** API Gateway keeps an issuer's public keys this long. */
const JWKS_KEPT_MS = 2 * 60 * 60 * 1000;
const DISCOVERY_TIMEOUT_MS = 5000;

export type Authorized =
  | { readonly event: APIGatewayProxyEventV2 }
  | { readonly refusal: APIGatewayProxyStructuredResultV2 };

export type ConsoleAuthorizer = (event: APIGatewayProxyEventV2) => Promise<Authorized>;

const isConsoleRoute = (path: string): boolean => path === CONSOLE_API_ROOT || path.startsWith(`${CONSOLE_API_ROOT}/`);

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
export const isLoopback = (ip: string): boolean => /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(ip) || ip === '::1';

const refusal = (statusCode: number, message: string, headers: Record<string, string> = {}): Authorized => ({
  refusal: {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ message }),
  },
});

const unauthorized = (why?: string): Authorized =>
  refusal(
    401,
    'Unauthorized',
    why
      ? { 'www-authenticate': `Bearer scope="" error="invalid_token" error_description="${why.replace(/"/g, "'")}"` }
      : {},
  );

/** A token that verified but fails a rule jose does not apply. */
class RefusedTokenError extends Error {}

export function consoleAuthorizer(signIn: ConsoleSignIn | undefined, clock: Clock = systemClock): ConsoleAuthorizer {
  if (!signIn) {
    return async (event) =>
      !isConsoleRoute(event.rawPath) || isLoopback(event.requestContext.http.sourceIp)
        ? { event }
        : refusal(403, 'Forbidden');
  }
  const keys = issuerKeys(signIn.issuer);
  return async (event) => {
    if (!isConsoleRoute(event.rawPath)) return { event };
    const header = event.headers.authorization?.trim() ?? '';
    const token = header.replace(/^Bearer\s+/i, '');
    if (token === '') return unauthorized();
    try {
      const claims = await verify(token, signIn, keys, clock());
      return {
        event: { ...event, requestContext: { ...event.requestContext, authorizer: { jwt: { claims, scopes: null } } } },
      } as { event: APIGatewayProxyEventV2 };
    } catch (error) {
      return unauthorized((error as Error).message);
    }
  };
}

type KeyLookup = (header: JWSHeaderParameters) => ReturnType<ReturnType<typeof createRemoteJWKSet>>;

/** The issuer's keys by `kid`, its JWKS found once through discovery (retried after a failure). */
function issuerKeys(issuer: string): KeyLookup {
  let jwks: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const discover = async () => {
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const response = await fetch(url, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`the issuer's discovery document answered HTTP ${response.status}`);
    const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: unknown };
    if (typeof jwksUri !== 'string') throw new Error("the issuer's discovery document names no jwks_uri");
    return createRemoteJWKSet(new URL(jwksUri), { cacheMaxAge: JWKS_KEPT_MS });
  };
  return async (header) => {
    if (!header.kid) throw new RefusedTokenError('the token names no key (kid)');
    jwks ??= discover().catch((error: unknown) => {
      jwks = undefined;
      throw error;
    });
    return (await jwks)(header);
  };
}

async function verify(
  token: string,
  signIn: ConsoleSignIn,
  keys: KeyLookup,
  now: number,
): Promise<Record<string, string>> {
  const { payload } = await jwtVerify(token, keys, {
    issuer: signIn.issuer,
    algorithms: RSA_ALGORITHMS,
    requiredClaims: ['exp'],
    currentDate: new Date(now),
  });
  if (typeof payload.iat === 'number' && payload.iat * 1000 > now)
    throw new RefusedTokenError('the token was issued in the future (iat)');
  const named = payload.aud !== undefined ? [payload.aud].flat() : [payload.client_id].filter(Boolean);
  if (!named.some((audience) => signIn.audience.includes(String(audience))))
    throw new RefusedTokenError(
      payload.aud !== undefined
        ? 'the token is for another audience (aud)'
        : 'the token is for another client (client_id)',
    );
  return claimsAsStrings(payload);
}

/** Claims as API Gateway passes them to the integration: strings, a list as "[a b]". */
function claimsAsStrings(payload: JWTPayload): Record<string, string> {
  return Object.fromEntries(
    Object.entries(payload).map(([name, value]) => [
      name,
      Array.isArray(value) ? `[${value.join(' ')}]` : typeof value === 'object' ? JSON.stringify(value) : String(value),
    ]),
  );
}
