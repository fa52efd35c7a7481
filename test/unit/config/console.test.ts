/**
 * The console's sign-in from the environment: off without an issuer, the
 * defaults a deploy relies on, and a half-configured one refused at start-up.
 */
import { describe, expect, it } from 'vitest';
import { consoleSignInFromEnv } from '../../../lib/config/console.js';

const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc';

describe('consoleSignInFromEnv', () => {
  it('is off without an issuer', () => {
    expect(consoleSignInFromEnv({})).toBeUndefined();
    expect(consoleSignInFromEnv({ CONSOLE_OIDC_ISSUER: '', CONSOLE_OIDC_CLIENT_ID: 'c' })).toBeUndefined();
  });

  it('takes the client id as the audience and openid as the scope unless told otherwise', () => {
    expect(consoleSignInFromEnv({ CONSOLE_OIDC_ISSUER: ISSUER, CONSOLE_OIDC_CLIENT_ID: 'app-client' })).toEqual({
      issuer: ISSUER,
      clientId: 'app-client',
      audience: ['app-client'],
      scope: 'openid',
    });
    expect(
      consoleSignInFromEnv({
        CONSOLE_OIDC_ISSUER: ISSUER,
        CONSOLE_OIDC_CLIENT_ID: 'app-client',
        CONSOLE_OIDC_AUDIENCE: ' urn:api , app-client ,',
        CONSOLE_OIDC_SCOPE: 'openid profile',
      }),
    ).toMatchObject({ audience: ['urn:api', 'app-client'], scope: 'openid profile' });
  });

  it('refuses an issuer that is not an http(s) URL, or an issuer without a client', () => {
    expect(() => consoleSignInFromEnv({ CONSOLE_OIDC_ISSUER: 'cognito', CONSOLE_OIDC_CLIENT_ID: 'c' })).toThrow(
      /CONSOLE_OIDC_ISSUER must be an http\(s\) URL/,
    );
    expect(() =>
      consoleSignInFromEnv({ CONSOLE_OIDC_ISSUER: 'ftp://idp.example.com', CONSOLE_OIDC_CLIENT_ID: 'c' }),
    ).toThrow(/CONSOLE_OIDC_ISSUER/);
    expect(() => consoleSignInFromEnv({ CONSOLE_OIDC_ISSUER: ISSUER })).toThrow(/CONSOLE_OIDC_CLIENT_ID/);
  });
});
