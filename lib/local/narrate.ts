/**
 * What `npm start` tells a person on the console: one line per cm/notify
 * outcome, reconcile action, scaling step, alert and orchestrate call.
 */
import { alertMessage } from '../alerts.js';
import type { NotifyOutcome } from '../handlers/notify.js';
import type { ScaleReport } from '../reconcile/autoscale.js';
import type { ReconcileReport } from '../reconcile/reconcile.js';
import type { LocalConsole } from './console.js';

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const preview = (ids: readonly string[], max = 5): string =>
  ids.length <= max ? ids.join(', ') : `${ids.slice(0, max).join(', ')}, … (+${ids.length - max})`;

/** Groups placements by instance for one readable line: "t1, t2 → instance 0; t3 → instance 1". */
function byInstance(placements: ReadonlyArray<{ id: string; instanceId: string }>, link = '→'): string {
  const groups = new Map<string, string[]>();
  for (const { id, instanceId } of placements) groups.set(instanceId, [...(groups.get(instanceId) ?? []), id]);
  return [...groups].map(([instanceId, ids]) => `${preview(ids)} ${link} instance ${instanceId}`).join('; ');
}

export function describeNotify(outcome: NotifyOutcome, out: LocalConsole): void {
  switch (outcome.status) {
    case 'assigned': {
      const { assigned, alreadyAssigned, createdInstances } = outcome.result;
      const parts = [];
      if (assigned.length > 0) parts.push(`assigned ${byInstance(assigned)}`);
      if (alreadyAssigned.length > 0) parts.push(`${plural(alreadyAssigned.length, 'id')} already placed (redelivery)`);
      if (createdInstances.length > 0)
        parts.push(`new ${createdInstances.length === 1 ? 'instance' : 'instances'} ${createdInstances.join(', ')}`);
      out.event('assign', `${outcome.resource}  ${parts.join('; ')}`, {
        resource: outcome.resource,
        assigned,
        alreadyAssigned: alreadyAssigned.length,
        createdInstances,
      });
      return;
    }
    case 'unassigned': {
      const { removed, notAssigned } = outcome.result;
      const parts = [];
      if (removed.length > 0) parts.push(`removed ${byInstance(removed, 'from')}`);
      if (notAssigned.length > 0) parts.push(`${plural(notAssigned.length, 'id')} not assigned anywhere`);
      out.event('unassign', `${outcome.resource}  ${parts.join('; ')}`, {
        resource: outcome.resource,
        removed,
        notAssigned: notAssigned.length,
      });
      return;
    }
    case 'reloaded': {
      const reloaded = outcome.result.reloaded.map((r) => `instance ${r.instanceId} (_reload ${r.times})`).join(', ');
      const told = reloaded ? `told ${reloaded} to reload` : 'not assigned anywhere, nothing to reload';
      const extra =
        outcome.assigned && outcome.assigned.assigned.length > 0
          ? `; assigned ${byInstance(outcome.assigned.assigned)}`
          : '';
      out.event('reload', `${outcome.resource}  ${preview(outcome.ids)} changed: ${told}${extra}`, {
        resource: outcome.resource,
        via: outcome.via,
        reloaded: outcome.result.reloaded,
      });
      return;
    }
    case 'reconcile-needed':
      out.event('warn', `${outcome.resource}  cm/notify names no ids: ${outcome.reason}`, {
        resource: outcome.resource,
      });
      return;
    case 'malformed':
      out.event('warn', `cm/notify message dropped: ${outcome.reason}`, { field: outcome.field });
      return;
    case 'ignored':
      return;
  }
}

/** The lines a person wants from a reconcile run; a run that changed nothing prints nothing. */
export function describeReconcile(report: ReconcileReport, out: LocalConsole, state: { lastSkip?: string }): void {
  if (report.status === 'skipped') {
    const holder = report.skipped?.heldBy ?? 'another process';
    if (state.lastSkip !== holder) {
      const until = report.skipped ? new Date(report.skipped.until).toTimeString().slice(0, 8) : '?';
      out.event('hold', `reconcile skipped: lease held by ${holder} until ${until}`, { heldBy: holder });
    }
    state.lastSkip = holder;
    return;
  }
  state.lastSkip = undefined;
  for (const kind of report.kinds) {
    // Scaling acts first in a run (the pods of the instances it opens are created below), so it is told first.
    if (kind.scaling) describeScaling(kind.resource, kind.scaling, out);
    for (const action of kind.actions) {
      const who = `${kind.resource} instance ${action.instanceId}`;
      const fields = {
        resource: kind.resource,
        instanceId: action.instanceId,
        pod: action.pod,
        reason: action.reason,
        ok: action.ok,
      };
      if (!action.ok) {
        out.event('error', `${who}: ${action.type} ${action.pod} failed: ${action.error ?? 'unknown error'}`, {
          ...fields,
          error: action.error,
        });
        continue;
      }
      switch (action.type) {
        case 'create':
          out.event('create', `${who}: started ${action.pod} (${action.reason})`, fields);
          break;
        case 'replace':
          out.event('replace', `${who}: started ${action.pod} to replace a dead worker (${action.reason})`, fields);
          break;
        case 'recycle':
          out.event('recycle', `${who}: ${action.oldPod ?? '?'} → ${action.pod} (${action.reason})`, {
            ...fields,
            oldPod: action.oldPod,
          });
          break;
        case 'delete':
          out.event('delete', `${who}: stopping ${action.pod} (${action.reason})`, fields);
          break;
        case 'orphan':
          out.event(
            'orphan',
            `${kind.resource}: stopping ${action.pod}, its instance ${action.instanceId} no longer exists`,
            fields,
          );
          break;
        default: {
          const unknown: never = action.type;
          out.event('info', `${who}: ${String(unknown)} ${action.pod} (${action.reason})`, fields);
        }
      }
    }
    for (const held of kind.heldBack) {
      out.event('hold', `${kind.resource} instance ${held.instanceId}: not recycled (${held.reason})`, {
        resource: kind.resource,
        instanceId: held.instanceId,
        pod: held.pod,
      });
    }
  }
  for (const alert of report.alerts) {
    out.event('alert', `${alert.resource}: ${alertMessage(alert).content}`, { alert });
  }
  for (const error of report.errors) {
    out.event(
      'error',
      `${error.resource}${error.instanceId !== undefined ? ` instance ${error.instanceId}` : ''}: ${error.operation} failed: ${error.message}`,
      { ...error },
    );
  }
}

/**
 * What elastic scaling did to one kind in one run: a line for a scale-out or a
 * scale-in (with the decision's reason), one for the resources moved, one per
 * drained instance removed. A run that held, or only waited for workers to be
 * ready, prints nothing.
 */
export function describeScaling(resource: string, scaling: ScaleReport, out: LocalConsole): void {
  const { current, desired, direction, reason } = scaling;
  const fields = { resource, current, desired, direction, reason };
  if (scaling.skipped !== undefined) {
    if (direction !== 'hold')
      out.event(
        'hold',
        `${resource}  scaling ${direction === 'up' ? 'out' : 'in'} ${current} → ${desired} waits: ${scaling.skipped}`,
        { ...fields, skipped: scaling.skipped },
      );
    return;
  }
  if (direction === 'up') {
    const parts = [];
    if (scaling.opened.length > 0)
      parts.push(`opened ${scaling.opened.length === 1 ? 'instance' : 'instances'} ${preview(scaling.opened)}`);
    if (scaling.resumed.length > 0)
      parts.push(
        `took back draining ${scaling.resumed.length === 1 ? 'instance' : 'instances'} ${preview(scaling.resumed)}`,
      );
    out.event(
      'scale',
      `${resource}  scaling out ${current} → ${desired}: ${reason}; ${parts.join('; ') || 'nothing opened'}`,
      {
        ...fields,
        opened: scaling.opened,
        resumed: scaling.resumed,
      },
    );
  } else if (direction === 'down') {
    const which = scaling.drainStarted;
    out.event(
      'scale',
      `${resource}  scaling in ${current} → ${desired}: ${reason}; draining ${which.length === 1 ? 'instance' : 'instances'} ${preview(which) || 'none'}`,
      { ...fields, drainStarted: which },
    );
  }
  if (scaling.moved > 0) {
    const owed =
      scaling.remainingMoves === 0
        ? 'none owed'
        : `${scaling.remainingMoves} still owed: they move once their workers serve, or in the next runs`;
    out.event('scale', `${resource}  moved ${plural(scaling.moved, 'resource')} to serving workers (${owed})`, {
      resource,
      moved: scaling.moved,
      remainingMoves: scaling.remainingMoves,
    });
  }
  for (const instanceId of scaling.closed) {
    out.event('scale', `${resource} instance ${instanceId}: drained and removed (worker stopped, nodes deleted)`, {
      resource,
      instanceId,
    });
  }
}

/** One line per Orchestrate call through the API, success or failure, like the legacy console's message. */
export function describeOrchestrateResponse(
  resource: string,
  statusCode: number,
  body: string | undefined,
  out: LocalConsole,
): void {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(body ?? '{}') as Record<string, unknown>;
  } catch {
    // Not JSON: reported by status alone.
  }
  if (statusCode === 200) {
    const after = Array.isArray(parsed.after) ? (parsed.after as Array<{ id: string }>) : [];
    out.event(
      'orchestrate',
      `${resource}  orchestrated: ${plural(Number(parsed.instances), 'instance')} × ${String(parsed.resourcePerInstance)}; ` +
        `moved ${String(parsed.moved)} (least possible ${String(parsed.minimumMoves)}); instances ${after.map((i) => i.id).join(', ') || 'none'}`,
      {
        resource,
        instances: parsed.instances,
        resourcePerInstance: parsed.resourcePerInstance,
        moved: parsed.moved,
        minimumMoves: parsed.minimumMoves,
      },
    );
  } else {
    out.event('warn', `${resource}  orchestrate refused (${statusCode}): ${String(parsed.message ?? 'no message')}`, {
      resource,
      statusCode,
      error: parsed.error,
    });
  }
}
