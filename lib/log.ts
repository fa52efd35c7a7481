/**
 * Structured JSON logs (pino). Nothing is built at import time: each entry
 * point (the App, a worker process, a bench) creates its logger once and
 * hands it down; components take children of it.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** pino level; default `LOG_LEVEL` of `env`, else info. */
  readonly level?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Fields on every line, e.g. the component. */
  readonly bindings?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  return pino({
    level: options.level ?? (env.LOG_LEVEL || 'info'),
    base: { service: 'iota-orchestrator', ...options.bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing: for benches and callers that want none. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
