/**
 * What a reconcile run reports: the call-counting runtime wrapper and the
 * compact summary the Lambda returns and the run logs.
 */
import type { KindConfig } from '../config/kinds.js';
import type { InstanceRuntime, PodInfo, PodSpec, PodUsage } from '../instances/port.js';
import type { ApiCalls, ReconcileReport } from './reconcile.js';

/** Counts the calls made through it, by verb, for the report and the benchmark. */
export class CountingRuntime implements InstanceRuntime {
  private readonly counts = { list: 0, create: 0, delete: 0 };
  constructor(private readonly inner: InstanceRuntime) {}
  get description(): string {
    return this.inner.description;
  }
  calls(): ApiCalls {
    return { ...this.counts };
  }
  create(spec: PodSpec): Promise<'created' | 'exists'> {
    this.counts.create++;
    return this.inner.create(spec);
  }
  delete(kind: KindConfig, name: string): Promise<'deleted' | 'absent'> {
    this.counts.delete++;
    return this.inner.delete(kind, name);
  }
  list(kind: KindConfig): Promise<PodInfo[]> {
    this.counts.list++;
    return this.inner.list(kind);
  }
  usage(kind: KindConfig): Promise<PodUsage[]> {
    return this.inner.usage(kind);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface ReconcileSummary {
  readonly status: ReconcileReport['status'];
  readonly failedKinds: readonly string[];
  readonly skipped?: string;
  readonly kinds: Record<
    string,
    {
      instances: number;
      pods: number;
      created: number;
      replaced: number;
      recycled: number;
      deleted: number;
      orphans: number;
      heldBack: number;
      failed: number;
    }
  >;
  readonly errors: number;
  readonly alerts: readonly string[];
  readonly apiCalls: ApiCalls;
}

/** A compact view of a report: counts per kind, for handler responses and the run's log line. */
export function summarizeReport(report: ReconcileReport): ReconcileSummary {
  const kinds: ReconcileSummary['kinds'] = {};
  for (const kind of report.kinds) {
    const ok = kind.actions.filter((a) => a.ok);
    kinds[kind.resource] = {
      instances: kind.instances,
      pods: kind.pods,
      created: ok.filter((a) => a.type === 'create').length,
      replaced: ok.filter((a) => a.type === 'replace').length,
      recycled: ok.filter((a) => a.type === 'recycle').length,
      deleted: ok.filter((a) => a.type === 'delete').length,
      orphans: ok.filter((a) => a.type === 'orphan').length,
      heldBack: kind.heldBack.length,
      failed: kind.actions.length - ok.length,
    };
  }
  return {
    status: report.status,
    failedKinds: report.failedKinds,
    ...(report.skipped ? { skipped: report.skipped.reason } : {}),
    kinds,
    errors: report.errors.length,
    alerts: report.alerts.map((alert) => `${alert.type}:${alert.resource}`),
    apiCalls: report.apiCalls,
  };
}
