/**
 * Structured JSON logs (pino). One logger per process; children carry the
 * component name. `LOG_LEVEL` sets the level (default info; silent in tests
 * unless LOG_LEVEL is set).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const defaultLevel = process.env.VITEST && !process.env.LOG_LEVEL ? 'silent' : (process.env.LOG_LEVEL ?? 'info');

export const rootLogger: Logger = pino({
  level: defaultLevel,
  base: { service: 'iota-orchestrator' },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export const loggerFor = (component: string): Logger => rootLogger.child({ component });
