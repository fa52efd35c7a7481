/**
 * API Gateway HTTP API (payload 2.0) → this function: the REST API and the
 * dashboard. It never throws: even a store that cannot be opened answers as
 * JSON (503), like every other error.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handleHttp } from '../lib/handlers/http.js';
import { toErrorResponse } from '../lib/handlers/http-errors.js';
import { withSharedApp } from '../lib/handlers/lambda.js';
import { nodeCrypto } from '../lib/lazy-crypto.js';
import { createLogger } from '../lib/log.js';

export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  try {
    return await withSharedApp((app) => handleHttp(app, event));
  } catch (error) {
    // Only the App's creation can get here (handleHttp answers every error itself).
    const requestId = event?.requestContext?.requestId || nodeCrypto().randomUUID();
    return toErrorResponse(error, { requestId, logger: createLogger({ bindings: { component: 'api' } }) });
  }
}
