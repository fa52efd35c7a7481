/**
 * Structured JSON logs (pino). Nothing is built at import time: each entry
 * point (the App, a worker process, a bench) creates its logger once and
 * hands it down; components take children of it.
 *
 * Every logger hides credentials with lib/redact.ts: in the fields that can
 * carry a URL or a credential, at the top level or in a logged config,
 * environment or settings object, and in every logged error (`err`), whose
 * message may quote a connection string.
 */
import { pino, type Logger } from 'pino';
import { REDACTED, redactCredential, redactText } from './redact.js';

export type { Logger };

export interface LoggerOptions {
  /** pino level; default `LOG_LEVEL` of `env`, else info. */
  readonly level?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Fields on every line, e.g. the component. */
  readonly bindings?: Record<string, unknown>;
  /** Where each JSON line goes; default stdout. `npm start`'s pretty console renders them as its own lines. */
  readonly destination?: LogDestination | undefined;
}

/** Receives each log record as one JSON line. */
export type LogDestination = pino.DestinationStream;

/** Fields whose text may hold a URL with its credentials (a connection string, an error message). */
const TEXT_FIELDS = ['url', 'mqttUrl', 'catalogUrl', 'connectionString', 'error', 'MQTT_URL', 'CATALOG_URL'];
/** "user:password" credentials: the user stays readable. */
const USER_CREDENTIAL_FIELDS = ['auth', 'zkAuth', 'ZK_AUTH'];
/** Whole secrets. */
const SECRET_FIELDS = ['password', 'secret', 'token', 'KAFKA_SASL_PASSWORD', 'K8S_TOKEN', 'PGPASSWORD'];

/**
 * Objects that hold settings when logged whole. Named, not a `*` wildcard: a wildcard path made every line cost
 * 2.5 times as much (pino's fast-redact walks every key of every line); named paths cost nothing measurable.
 */
const PARENTS = ['config', 'env', 'settings', 'options', 'connection', 'sasl'];

const TEXT = new Set(TEXT_FIELDS);
const USER_CREDENTIAL = new Set(USER_CREDENTIAL_FIELDS);
const REDACTED_PATHS = [...TEXT_FIELDS, ...USER_CREDENTIAL_FIELDS, ...SECRET_FIELDS].flatMap((field) => [
  field,
  ...PARENTS.map((parent) => `${parent}.${field}`),
]);

function censor(value: unknown, path: string[]): unknown {
  const field = path[path.length - 1] ?? '';
  if (TEXT.has(field)) return typeof value === 'string' ? redactText(value) : value;
  if (USER_CREDENTIAL.has(field) && typeof value === 'string') return redactCredential(value);
  return REDACTED;
}

/** A copy of `value` with every string in it passed through redactText (a few levels deep). */
function redactStrings(value: unknown, depth = 3): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth === 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactStrings(item, depth - 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactStrings(item, depth - 1)]));
}

/** pino's error serializer, then redacted: a copy, so the error the caller holds is untouched. */
const redactedError = (error: Error): unknown => redactStrings(pino.stdSerializers.err(error));

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  return pino(
    {
      level: options.level ?? (env.LOG_LEVEL || 'info'),
      base: { service: 'iota-orchestrator', ...options.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor },
      serializers: { err: redactedError },
    },
    options.destination,
  );
}

/** A logger that writes nothing: for benches and callers that want none. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
