/**
 * Counters emitted as one CloudWatch Embedded Metric Format line per flush,
 * so Lambda gets metrics from stdout with no SDK call; locally the same line
 * is just a log record.
 */
import { systemClock } from './clock.js';

export class Metrics {
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly namespace = 'IotaOrchestrator',
    private readonly dimensions: Record<string, string> = {},
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {}

  count(name: string, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
  }

  /** A level rather than a count (instances now): the last value set is the one emitted. */
  gauge(name: string, value: number): void {
    this.counters.set(name, value);
  }

  /** Metrics with more dimensions (e.g. per resource kind), written the same way; flushed on their own. */
  child(dimensions: Record<string, string>): Metrics {
    return new Metrics(this.namespace, { ...this.dimensions, ...dimensions }, this.write);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /** Writes the EMF line and resets; nothing is written when no counter moved. */
  flush(): void {
    if (this.counters.size === 0) return;
    const names = [...this.counters.keys()];
    this.write(
      JSON.stringify({
        _aws: {
          Timestamp: systemClock(),
          CloudWatchMetrics: [
            {
              Namespace: this.namespace,
              Dimensions: [Object.keys(this.dimensions)],
              Metrics: names.map((Name) => ({ Name, Unit: 'Count' })),
            },
          ],
        },
        ...this.dimensions,
        ...this.snapshot(),
      }),
    );
    this.counters.clear();
  }
}
