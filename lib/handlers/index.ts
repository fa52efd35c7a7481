/**
 * The handlers' logic, shared by the Lambda entry points in functions/ and the
 * local runtime: each parses its input with zod, calls one use case on the
 * injected App, and maps the result.
 */
export {
  handleNotifyMessage,
  parseNotifyPayload,
  validateNotifyMessage,
  planNotify,
  NotifyMessageSchema,
  NOTIFY_METRICS,
  type NotifyMessage,
  type NotifyOutcome,
  type NotifyPlan,
  type ParsedNotify,
} from './notify.js';
export {
  handleHeartbeatRecords,
  handleMskEvent,
  mskHeartbeatRecords,
  decodeHeartbeat,
  coalesceHeartbeats,
  HeartbeatMessageSchema,
  HEARTBEAT_METRICS,
  type HeartbeatRecordInput,
  type HeartbeatBatchOptions,
  type HeartbeatBatchResult,
} from './heartbeat.js';
export { handleHttp, API_ROUTE_KEYS, MAX_BODY_BYTES } from './http.js';
export { toErrorResponse, HttpError } from './http-errors.js';
export { MskEventSchema, MskRecordSchema, HttpApiEventSchema, ScheduledEventSchema, type MskEvent, type HttpApiEvent, type ScheduledEvent } from './events.js';
