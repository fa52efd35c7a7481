/**
 * What `npm start` prints: a banner, then one line per thing a person wants to
 * see happen (an assignment batch, a worker created, recycled or replaced, an
 * alert, an error). Readable lines on a terminal; one JSON log record per
 * event otherwise (or with LOG_FORMAT=json), for log shippers.
 */
import type { Logger } from '../log.js';

export type EventTag =
  | 'assign'
  | 'unassign'
  | 'reload'
  | 'orchestrate'
  | 'create'
  | 'replace'
  | 'recycle'
  | 'delete'
  | 'orphan'
  | 'scale'
  | 'hold'
  | 'alert'
  | 'warn'
  | 'error'
  | 'info';

export interface LocalConsole {
  readonly format: 'pretty' | 'json';
  banner(lines: ReadonlyArray<readonly [label: string, value: string]>, footer?: readonly string[]): void;
  event(tag: EventTag, text: string, fields?: Record<string, unknown>): void;
}

const COLORS: Partial<Record<EventTag, string>> = {
  assign: '32', // green
  unassign: '33', // yellow
  create: '36', // cyan
  replace: '35', // magenta
  recycle: '35',
  scale: '34', // blue
  alert: '1;31', // bold red
  error: '31',
  warn: '33',
  hold: '33',
};

const WARN_TAGS: ReadonlySet<EventTag> = new Set(['warn', 'hold', 'alert']);

export function createConsole(options: {
  format: 'pretty' | 'json';
  logger: Logger;
  write?: (text: string) => void;
  color?: boolean;
  now?: () => Date;
}): LocalConsole {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const now = options.now ?? (() => new Date());
  const paint = (code: string | undefined, text: string): string =>
    options.color && code ? `\u001b[${code}m${text}\u001b[0m` : text;

  if (options.format === 'json') {
    return {
      format: 'json',
      banner(lines, footer = []) {
        options.logger.info(
          { event: 'started', ...Object.fromEntries(lines), notes: footer },
          'iota-orchestrator started',
        );
      },
      event(tag, text, fields = {}) {
        const level = tag === 'error' ? 'error' : WARN_TAGS.has(tag) ? 'warn' : 'info';
        options.logger[level]({ event: tag, ...fields }, text);
      },
    };
  }

  return {
    format: 'pretty',
    banner(lines, footer = []) {
      const width = Math.max(...lines.map(([label]) => label.length)) + 2;
      const out = ['', paint('1', 'iota-orchestrator') + ' — running locally', ''];
      for (const [label, value] of lines) out.push(`  ${label.padEnd(width)}${value}`);
      if (footer.length > 0) out.push('', ...footer.map((line) => `  ${line}`));
      out.push('', '');
      write(out.join('\n'));
    },
    event(tag, text) {
      const time = now().toTimeString().slice(0, 8);
      write(`${paint('2', time)}  ${paint(COLORS[tag], tag.padEnd(11))} ${text}\n`);
    },
  };
}
