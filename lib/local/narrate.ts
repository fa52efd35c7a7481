/**
 * What `npm start` tells a person on the console: one line per cm/notify
 * outcome, reconcile action, scaling step, alert and orchestrate call.
 */
import { alertMessage } from '../alerts.js';
import type { NotifyBatchResult } from '../handlers/notify-batch.js';
import type { CatalogPass } from '../orchestration/types.js';
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

/** One line per kind a cm/notify batch changed, and one per message it could not use. */
export function describeNotify(result: NotifyBatchResult, out: LocalConsole): void {
  for (const bad of result.malformed)
    out.event('warn', `cm/notify message dropped: ${bad.reason} — payload ${bad.payload}`, {
      record: bad.id,
      field: bad.field,
      payload: bad.payload,
    });
  for (const resource of result.reconcileNeeded)
    out.event('warn', `${resource}  cm/notify names no ids: a catalog pass is requested`, { resource });
  for (const kind of result.kinds) {
    const { resource } = kind;
    if (kind.error) {
      out.event('error', `${resource}  cm/notify not applied (retried): ${kind.error}`, { resource });
      continue;
    }
    const placed = [];
    if (kind.assigned.length > 0) placed.push(`assigned ${byInstance(kind.assigned)}`);
    if (kind.alreadyAssigned > 0) placed.push(`${plural(kind.alreadyAssigned, 'id')} already placed (redelivery)`);
    if (kind.createdInstances.length > 0)
      placed.push(
        `new ${kind.createdInstances.length === 1 ? 'instance' : 'instances'} ${kind.createdInstances.join(', ')}`,
      );
    if (kind.pending.length > 0)
      placed.push(`${plural(kind.pending.length, 'id')} pending: the kind is at its maximum`);
    if (placed.length > 0)
      out.event('assign', `${resource}  ${placed.join('; ')}`, {
        resource,
        assigned: kind.assigned,
        alreadyAssigned: kind.alreadyAssigned,
        createdInstances: kind.createdInstances,
      });
    const removed = [];
    if (kind.removed.length > 0) removed.push(`removed ${byInstance(kind.removed, 'from')}`);
    if (kind.notAssigned > 0 && kind.removed.length + kind.reloaded.length === 0)
      removed.push(`${plural(kind.notAssigned, 'id')} not assigned anywhere`);
    if (removed.length > 0)
      out.event('unassign', `${resource}  ${removed.join('; ')}`, { resource, removed: kind.removed });
    if (kind.reloaded.length > 0) {
      const told = kind.reloaded.map((r) => `instance ${r.instanceId} (_reload ${r.times})`).join(', ');
      out.event('reload', `${resource}  changed: told ${told} to reload`, { resource, reloaded: kind.reloaded });
    }
  }
}

/** One line per catalog pass: what it found and healed, or why it held back. */
export function describeCatalogPass(pass: CatalogPass, out: LocalConsole): void {
  if (pass.status === 'skipped') return;
  const found = `scanned ${pass.scanned}, ${plural(pass.missing, 'missing id')}, ${pass.extra} extra`;
  if (pass.status === 'held') {
    out.event('alert', `${pass.resource}  catalog pass held back: ${pass.reason ?? found}`, { ...pass });
    return;
  }
  if (pass.healed === 0) return;
  out.event('info', `${pass.resource}  catalog pass: ${found}; healed ${pass.healed} in ${pass.durationMs} ms`, {
    ...pass,
  });
}

/** The lines a person wants from a reconcile run; a run that changed nothing prints nothing. */
/** What the console remembers between reconcile runs, so that a state that lasts is told once. */
export interface ReconcileNarration {
  lastSkip?: string;
  /** Held-back instance → the reason last told, numbers left out (a back-off's countdown is not news). */
  readonly held?: Map<string, string>;
}

export function describeReconcile(report: ReconcileReport, out: LocalConsole, state: ReconcileNarration): void {
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
    const heldNow = new Set<string>();
    for (const held of kind.heldBack) {
      const key = `${kind.resource}/${held.instanceId}`;
      const gist = held.reason.replace(/\d+(\.\d+)?/g, '#');
      heldNow.add(key);
      if (state.held?.get(key) === gist) continue;
      state.held?.set(key, gist);
      out.event('hold', `${kind.resource} instance ${held.instanceId}: not recycled (${held.reason})`, {
        resource: kind.resource,
        instanceId: held.instanceId,
        pod: held.pod,
      });
    }
    for (const key of state.held?.keys() ?? []) {
      if (key.startsWith(`${kind.resource}/`) && !heldNow.has(key)) state.held?.delete(key);
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
