/**
 * How people sign in to the console: an OpenID Connect provider (a Cognito
 * user pool, or any issuer) and the public client the dashboard signs in as
 * (authorization code + PKCE, no secret). Deployed, serverless.yml passes the
 * same issuer and audience to the HTTP API's JWT authorizer; `npm start`
 * verifies tokens itself the way that authorizer does (lib/local/auth.ts).
 * Without an issuer the console does not sign in, and only `npm start`
 * serves it, on loopback alone.
 */
import * as z from '../zod.js';

export interface ConsoleSignIn {
  /** The issuer (`iss`), whose `/.well-known/openid-configuration` names its endpoints and keys. */
  readonly issuer: string;
  /** The client the dashboard signs in as. */
  readonly clientId: string;
  /** What a token's `aud` (or, without one, its `client_id`) must name one of. */
  readonly audience: readonly string[];
  /** Scopes the dashboard asks for. */
  readonly scope: string;
}

const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

const ConsoleEnvSchema = z.object({
  CONSOLE_OIDC_ISSUER: z.url({ protocol: /^https?$/, error: 'CONSOLE_OIDC_ISSUER must be an http(s) URL' }),
  CONSOLE_OIDC_CLIENT_ID: z
    .string({ error: 'CONSOLE_OIDC_CLIENT_ID must name the client the console signs in as' })
    .check(z.minLength(1, 'CONSOLE_OIDC_CLIENT_ID must name the client the console signs in as')),
  CONSOLE_OIDC_AUDIENCE: z.optional(z.string()),
  CONSOLE_OIDC_SCOPE: z.optional(z.string()),
});

/** The console's sign-in, or undefined when no issuer is configured; a half-configured one is a start-up error. */
export function consoleSignInFromEnv(env: NodeJS.ProcessEnv = process.env): ConsoleSignIn | undefined {
  if (!env.CONSOLE_OIDC_ISSUER) return undefined;
  const result = ConsoleEnvSchema.safeParse(env);
  if (!result.success) throw new Error(result.error.issues.map((issue) => issue.message).join('; '));
  const { CONSOLE_OIDC_ISSUER, CONSOLE_OIDC_CLIENT_ID, CONSOLE_OIDC_AUDIENCE, CONSOLE_OIDC_SCOPE } = result.data;
  const audience = commaList(CONSOLE_OIDC_AUDIENCE ?? '');
  return {
    // Compared with a token's `iss` exactly as written, as API Gateway compares it.
    issuer: CONSOLE_OIDC_ISSUER,
    clientId: CONSOLE_OIDC_CLIENT_ID,
    audience: audience.length > 0 ? audience : [CONSOLE_OIDC_CLIENT_ID],
    scope: CONSOLE_OIDC_SCOPE?.trim() || 'openid',
  };
}
