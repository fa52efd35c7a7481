/**
 * The one place that hides credentials before text leaves the process: log
 * lines (lib/log.ts applies it to the fields and errors that can carry them),
 * the local start-up banner, status descriptions. A URL keeps its scheme, user,
 * host and path, so a redacted line still says where a connection went; only
 * what would let a reader in is replaced by `***`: the password of a URL's
 * user info, the value of a secret-looking query parameter, the password of a
 * "user:password" credential (ZooKeeper digest auth).
 */

export const REDACTED = '***';

/** Query parameters whose value is a credential, lower case (libpq's `password`, OAuth tokens, SigV4 presigning). */
const SECRET_PARAMETERS = new Set([
  'password',
  'passwd',
  'pwd',
  'sslpassword',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'auth',
  'api_key',
  'apikey',
  'key',
  'sig',
  'signature',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-credential',
]);

/**
 * `scheme://user:password@` anywhere in a text. The password runs to the last `@` before the path, as a URL
 * parser reads it, so an unencoded `@` in it is hidden too.
 */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):[^\s/?#]*@/gi;
const SECRET_PARAMETER = /([?&])([^=&\s#]+)=([^&\s#]*)/g;

/**
 * A URL with its password and the values of its secret parameters replaced by `***`. A value that does not parse
 * as a URL is not echoed at all: it may be a credential given where a URL was expected.
 */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return '(unparsable URL)';
  }
  if (url.password) url.password = REDACTED;
  for (const key of new Set(url.searchParams.keys()))
    if (SECRET_PARAMETERS.has(key.toLowerCase())) url.searchParams.set(key, REDACTED);
  return url.toString();
}

/** Free text (an error message, a description, a field that holds a URL or a path) with every URL credential hidden. */
export function redactText(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1:${REDACTED}@`)
    .replace(SECRET_PARAMETER, (whole, separator: string, key: string) =>
      SECRET_PARAMETERS.has(key.toLowerCase()) ? `${separator}${key}=${REDACTED}` : whole,
    );
}

/** A "user:password" credential (ZooKeeper digest auth) as "user:***"; without a user, just `***`. */
export function redactCredential(credential: string): string {
  const colon = credential.indexOf(':');
  return colon > 0 ? `${credential.slice(0, colon)}:${REDACTED}` : REDACTED;
}
