/**
 * Every error the API can answer with, as one JSON shape
 * `{error, message, details}`, and the one place that maps use-case errors to
 * HTTP statuses. Unexpected errors become a 500 that names the request id and
 * nothing else; the stack goes to the log.
 */
import { systemClock } from '../clock.js';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { CapacityError, InvalidOptionError, InvalidResourceIdError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import { LeaseHeldError, UnknownResourceError } from '../orchestration/errors.js';
import { ConflictError, StoreUnavailableError } from '../store/port.js';
import type { FieldIssue } from './events.js';

export interface ErrorBody {
  /** Stable machine-readable code, e.g. "INVALID_REQUEST". */
  readonly error: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** An error the router raises itself, already carrying its status. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const invalidRequest = (issues: readonly FieldIssue[], where: 'body' | 'path' | 'query'): HttpError =>
  new HttpError(
    400,
    'INVALID_REQUEST',
    `invalid request ${where}: ${issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ')}`,
    { issues },
  );

/**
 * A body over `limit` bytes, refused by the API (1 MiB) or before it by the
 * local server's transport limit; `size` when known (a streamed body is
 * refused before its end).
 */
export const payloadTooLarge = (limit: number, size?: number): HttpError =>
  size === undefined
    ? new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is over the limit of ${limit} bytes`, { limit })
    : new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is ${size} bytes; the limit is ${limit}`, { size, limit });

export function jsonResponse(
  status: number,
  body: unknown,
  requestId: string,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    // Exactly "Content-Type: application/json": `sls invoke local` then prints the body as JSON.
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'X-Request-Id': requestId, ...headers },
    body: JSON.stringify(body),
  };
}

const errorResponse = (status: number, body: ErrorBody, requestId: string, headers: Record<string, string> = {}) =>
  jsonResponse(status, body, requestId, headers);

/** The response of an HttpError; also what the local server answers for a request it refuses itself. */
export const httpErrorResponse = (error: HttpError, requestId: string): APIGatewayProxyStructuredResultV2 =>
  errorResponse(
    error.status,
    { error: error.code, message: error.message, details: error.details },
    requestId,
    error.headers,
  );

/**
 * Maps any error to its response. `field` names the request field a bad
 * resource id came from ("id", "ids"), for InvalidResourceIdError.
 */
export function toErrorResponse(
  error: unknown,
  context: { requestId: string; logger: Logger; field?: string },
): APIGatewayProxyStructuredResultV2 {
  const { requestId, logger } = context;
  if (error instanceof HttpError) return httpErrorResponse(error, requestId);
  if (error instanceof InvalidOptionError) {
    return errorResponse(
      400,
      {
        error: error.code,
        message: error.message,
        details: { field: error.field, range: error.range, received: error.received },
      },
      requestId,
    );
  }
  if (error instanceof InvalidResourceIdError) {
    return errorResponse(
      400,
      {
        error: error.code,
        message: error.message,
        details: { field: context.field ?? 'id', received: error.resourceId },
      },
      requestId,
    );
  }
  if (error instanceof UnknownResourceError) {
    return errorResponse(
      404,
      { error: error.code, message: error.message, details: { resource: error.resource, known: error.known } },
      requestId,
    );
  }
  if (error instanceof LeaseHeldError) {
    return errorResponse(
      409,
      {
        error: error.code,
        message: error.message,
        details: { lease: error.lease, holder: error.holder, expiresAt: new Date(error.expiresAt).toISOString() },
      },
      requestId,
      { 'Retry-After': String(Math.max(1, Math.ceil((error.expiresAt - systemClock()) / 1000))) },
    );
  }
  if (error instanceof CapacityError) {
    return errorResponse(
      409,
      { error: error.code, message: error.message, details: { required: error.required, max: error.max } },
      requestId,
    );
  }
  if (error instanceof ConflictError) {
    logger.warn({ requestId, reason: error.reason, path: error.path }, 'write conflict outlived its retries');
    return errorResponse(
      409,
      {
        error: 'CONFLICT',
        message: 'a concurrent change won the race; retry the request',
        details: { reason: error.reason },
      },
      requestId,
    );
  }
  if (error instanceof StoreUnavailableError) {
    logger.error({ requestId, err: error }, 'store unavailable');
    return errorResponse(
      503,
      { error: 'STORE_UNAVAILABLE', message: 'the orchestration store is unavailable; retry later', details: {} },
      requestId,
      { 'Retry-After': '5' },
    );
  }
  logger.error({ requestId, err: error }, 'unexpected error');
  return errorResponse(
    500,
    { error: 'INTERNAL', message: `internal error (request ${requestId})`, details: { requestId } },
    requestId,
  );
}
