/**
 * SigV4 of a presigned GET, recomputed from its URL for the tests, independently of
 * lib/aws-sigv4.ts: the query's parameters but `X-Amz-Signature` and those in `unsigned`,
 * and the signed headers given (`host` and any other), with the empty payload.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AwsCredentials } from '../../lib/aws-sigv4.js';

/** Temporary credentials and a signing time to sign with in tests (AWS's documentation example key). */
export const EXAMPLE_CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'FwoGZXIvYXdzE+session/token==',
};
export const EXAMPLE_SIGNING_TIME = Date.UTC(2025, 4, 6, 7, 8, 9);

export function expectedPresignedSignature(
  url: URL,
  headers: Readonly<Record<string, string>>,
  secretAccessKey: string,
  unsigned: readonly string[] = [],
): string {
  const rfc3986 = (text: string): string =>
    encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = [...url.searchParams.entries()]
    .filter(([key]) => key !== 'X-Amz-Signature' && !unsigned.includes(key))
    .map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`)
    .sort()
    .join('&');
  const names = Object.keys(headers).sort();
  const canonicalRequest = [
    'GET',
    '/',
    query,
    names.map((name) => `${name}:${headers[name]}\n`).join(''),
    names.join(';'),
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const [, date, region, service] = /^[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(
    url.searchParams.get('X-Amz-Credential')!,
  )!;
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex');
}
