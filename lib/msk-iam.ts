/**
 * Amazon MSK IAM access control for the alerts producer, over SASL/OAUTHBEARER (which kafkajs
 * speaks): the bearer token is a `kafka-cluster:Connect` request to `kafka.<region>.amazonaws.com`
 * presigned with SigV4 for the service `kafka-cluster`, as a URL, base64url without padding. That is
 * the token AWS's signer libraries build; the broker checks the signature and then the role's
 * `kafka-cluster:*` grants (serverless.yml, the alerts role). Signed here with lib/aws-sigv4.ts, so
 * the alerts bundle carries no AWS SDK.
 * https://docs.aws.amazon.com/msk/latest/developerguide/iam-access-control.html
 */
import {
  type AwsCredentials,
  type AwsCredentialsProvider,
  awsServiceHost,
  presignUrl,
  reusedToken,
} from './aws-sigv4.js';
import { systemClock } from './clock.js';

/** How long a token is valid, as AWS's signers set it. */
export const MSK_TOKEN_EXPIRES_SECONDS = 900;
/** A token is reused for this long, a minute short of its validity, so none expires in flight. */
export const MSK_TOKEN_REUSE_MS = (MSK_TOKEN_EXPIRES_SECONDS - 60) * 1000;
/** Sent with the token (not signed), as AWS's signers send theirs. */
export const MSK_TOKEN_USER_AGENT = 'iota-orchestrator';

/** The token for one signing time; deterministic for fixed credentials and time. */
export function presignMskIamToken(request: {
  readonly region: string;
  readonly credentials: AwsCredentials;
  /** Epoch ms. */
  readonly signingTime: number;
}): string {
  const url = new URL(`https://${awsServiceHost('kafka', request.region)}/`);
  url.searchParams.set('Action', 'kafka-cluster:Connect');
  const signed = presignUrl({ method: 'GET', url, service: 'kafka-cluster', ...request }, MSK_TOKEN_EXPIRES_SECONDS);
  signed.searchParams.set('User-Agent', MSK_TOKEN_USER_AGENT);
  return Buffer.from(signed.toString(), 'utf8').toString('base64url');
}

/**
 * kafkajs' `oauthBearerProvider`: a token, signed again once MSK_TOKEN_REUSE_MS have passed or
 * before the temporary credentials it used expire (kafkajs leaves reuse and refresh to the provider).
 */
export function mskIamTokenProvider(options: {
  readonly region: string;
  readonly credentials: AwsCredentialsProvider;
  readonly now?: () => number;
}): () => Promise<{ value: string }> {
  const tokens = reusedToken({
    credentials: options.credentials,
    reuseMs: MSK_TOKEN_REUSE_MS,
    now: options.now ?? systemClock,
    sign: (credentials, signingTime) => presignMskIamToken({ region: options.region, credentials, signingTime }),
  });
  return async () => ({ value: await tokens() });
}
