/**
 * What `npm start` prints: a banner, then one line per thing a person wants to
 * see happen (an assignment batch, a worker created, recycled or replaced, an
 * alert, an error). Readable lines on a terminal; one JSON log record per
 * event otherwise (or with LOG_FORMAT=json), for log shippers.
 *
 * The components' own logs go through the console too (`logDestination`): in
 * pretty mode each record becomes one line like the others, never a JSON line
 * among them. Records marked `reported` (what a cm/notify batch, reconcile run
 * or catalog pass also returns in its result, which the console narrates) and
 * those of the alert publisher are left out there, since the narrated line
 * already tells each of them once; a handler's other warnings still show.
 */
import type { LogDestination, Logger } from '../log.js';

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
  /** Where the components' logger writes: undefined for stdout (json); the console's own lines (pretty). */
  readonly logDestination: LogDestination | undefined;
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

/** Log records the narration already tells: those a handler's result reports too, and the alert publisher's. */
const NARRATED_COMPONENTS: ReadonlySet<unknown> = new Set(['alerts']);
/** Fields every record has or the line already shows. */
const RECORD_FIELDS: ReadonlySet<string> = new Set([
  'level',
  'time',
  'service',
  'component',
  'handler',
  'msg',
  'reported',
]);
/** A field's value is cut here: a line, not a dump. */
const FIELD_CHARS = 200;

const fieldText = (key: string, value: unknown): string => {
  const shown =
    key === 'err' && value && typeof value === 'object' && 'message' in value
      ? String(value.message)
      : typeof value === 'string' && !/\s/.test(value)
        ? value
        : JSON.stringify(value);
  return `${key}=${shown.length > FIELD_CHARS ? `${shown.slice(0, FIELD_CHARS)}…` : shown}`;
};

/** One pino JSON line as a console event: its tag by level, its message, then its own fields as key=value. */
function logRecordEvent(line: string): { tag: EventTag; text: string } | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { tag: 'info', text: line.trimEnd() };
  }
  if (record.reported === true || NARRATED_COMPONENTS.has(record.component)) return undefined;
  const level = Number(record.level);
  const tag: EventTag = level >= 50 ? 'error' : level >= 40 ? 'warn' : 'info';
  const fields = Object.entries(record)
    .filter(([key]) => !RECORD_FIELDS.has(key))
    .map(([key, value]) => fieldText(key, value));
  return { tag, text: [String(record.msg ?? ''), ...fields].join('  ') };
}

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
      logDestination: undefined,
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

  const event = (tag: EventTag, text: string): void => {
    const time = now().toTimeString().slice(0, 8);
    write(`${paint('2', time)}  ${paint(COLORS[tag], tag.padEnd(11))} ${text}\n`);
  };
  return {
    format: 'pretty',
    logDestination: {
      write(line) {
        const shown = logRecordEvent(line);
        if (shown) event(shown.tag, shown.text);
      },
    },
    banner(lines, footer = []) {
      const width = Math.max(...lines.map(([label]) => label.length)) + 2;
      const out = ['', paint('1', 'iota-orchestrator') + ' — running locally', ''];
      for (const [label, value] of lines) out.push(`  ${label.padEnd(width)}${value}`);
      if (footer.length > 0) out.push('', ...footer.map((line) => `  ${line}`));
      out.push('', '');
      write(out.join('\n'));
    },
    event,
  };
}
