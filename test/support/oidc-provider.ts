/**
 * A real OpenID Connect provider on a free loopback port (the `oidc-provider`
 * package, as a Cognito user pool stands in production): one public client
 * (authorization code + PKCE, no secret), its own login and consent pages
 * (any login and password sign in), access tokens that are RS256 JWTs for
 * the API's audience, as API Gateway's JWT authorizer verifies them, and a
 * refresh token with every sign-in, as a Cognito user pool gives one to an
 * app client with the code grant.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { freePort } from './zookeeper-server.js';

export interface RunningOidcProvider {
  /** The issuer: `iss` of its tokens and the root of its discovery document. */
  readonly issuer: string;
  close(): Promise<void>;
}

export interface OidcProviderOptions {
  readonly clientId: string;
  /** Where the client may be sent back with its code: the dashboard page. */
  readonly redirectUri: string;
  /** The `aud` of its access tokens: an absolute URI, as oidc-provider names a resource server. */
  readonly audience: string;
  readonly accessTokenTtlSeconds?: number;
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<RunningOidcProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: 'none',
        redirect_uris: [options.redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token'],
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: ['a test cookie key that signs nothing of value'] },
    pkce: { required: () => true },
    findAccount: async (_context, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, preferred_username: sub }),
    }),
    claims: { openid: ['sub'], profile: ['preferred_username'] },
    ttl: { AccessToken: options.accessTokenTtlSeconds ?? 600 },
    // oidc-provider's default wants the offline_access scope; Cognito needs none.
    issueRefreshToken: async (_context, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The client names no resource: every token is for the API, a JWT as API Gateway wants one.
        defaultResource: async () => options.audience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'openid profile',
          audience: options.audience,
          accessTokenFormat: 'jwt' as const,
          jwt: { sign: { alg: 'RS256' as const } },
        }),
      },
    },
  });
  const server: Server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  return {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
