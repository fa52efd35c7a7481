/**
 * The orchestration core, assembled: one module per use case over one
 * instance repository, behind the `Orchestration` interface (types.ts) that
 * handlers, reconcile and the local runtime depend on.
 */
import { LogAlertPublisher, type AlertPublisher } from '../alerts.js';
import { systemClock, type Clock } from '../clock.js';
import type { KindConfig } from '../config/kinds.js';
import { DEFAULT_SETTINGS, type Settings } from '../config/settings.js';
import type { Logger } from '../log.js';
import type { NodeStore } from '../store/port.js';
import { Kinds, type OrchestrationContext } from './context.js';
import { CapacityUseCase } from './capacity.js';
import { CatalogCheckUseCase } from './catalog-check.js';
import { HeartbeatUseCase } from './heartbeats.js';
import { InstanceRecordUseCase } from './instance-records.js';
import { InstanceViewUseCase } from './instance-view.js';
import { Layout } from './layout.js';
import { LeaseUseCase } from './leases.js';
import { MoveUseCase } from './moves.js';
import { OrchestrateUseCase } from './orchestrate.js';
import { PlacementUseCase } from './placement.js';
import { ScalingUseCase } from './scaling.js';
import { InstanceRepository } from './repository.js';
import type { Orchestration } from './types.js';
import { UnassignUseCase } from './unassign.js';
import { ViewUseCase } from './views.js';

export interface OrchestrationDeps {
  readonly store: NodeStore;
  readonly kinds: readonly KindConfig[];
  readonly logger: Logger;
  readonly root?: string | undefined;
  readonly stateRoot?: string | undefined;
  readonly settings?: Settings | undefined;
  readonly clock?: Clock | undefined;
  /** Where capacity-exhausted alerts go; default: the log. */
  readonly alerts?: AlertPublisher | undefined;
}

export function createOrchestration(deps: OrchestrationDeps): Orchestration {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ component: 'orchestration' });
  const layout = new Layout(deps.root, deps.stateRoot);
  const repository = new InstanceRepository({ store: deps.store, layout, clock, logger });
  const context: OrchestrationContext = {
    store: deps.store,
    repository,
    clock,
    logger,
    settings: deps.settings ?? DEFAULT_SETTINGS,
  };
  const kinds = new Kinds(deps.kinds);

  const alerts = deps.alerts ?? new LogAlertPublisher(logger);
  const capacity = new CapacityUseCase(context, kinds, alerts);
  const placement = new PlacementUseCase(context, kinds, capacity);
  const unassign = new UnassignUseCase(context, kinds, capacity);
  const leases = new LeaseUseCase(context);
  const heartbeats = new HeartbeatUseCase(context, kinds);
  const records = new InstanceRecordUseCase(context, kinds);
  const moves = new MoveUseCase(context);
  const orchestrate = new OrchestrateUseCase(context, kinds, { leases, moves, records, capacity, placement });
  const scaling = new ScalingUseCase(context, kinds, { moves, capacity, records });
  const catalog = new CatalogCheckUseCase(context, kinds, { leases, placement, unassign, capacity, alerts });
  const views = new ViewUseCase(context, kinds, { heartbeats, records, capacity, scaling, catalog });
  const instanceView = new InstanceViewUseCase(context, kinds);

  return {
    kinds: kinds.all,
    layout,
    kind: (resource) => kinds.get(resource),
    ping: () => deps.store.ping(),
    assign: (resource, ids) => placement.assign(resource, ids),
    unassign: (resource, ids) => unassign.unassign(resource, ids),
    reload: (resource, ids) => unassign.reload(resource, ids),
    orchestrate: (resource, input, holder, guard) => orchestrate.orchestrate(resource, input, holder, guard),
    placePending: (resource) => placement.placePending(resource),
    read: (resource) => views.read(resource),
    instanceIds: (resource) => views.instanceIds(resource),
    locate: (resource, id) => views.locate(resource, id),
    describe: (resource) => views.describe(resource),
    pendingIds: (resource) => capacity.pendingIds(resource),
    describeInstance: (resource, instanceId, page) => instanceView.describeInstance(resource, instanceId, page),
    recordHeartbeats: (beats) => heartbeats.recordHeartbeats(beats),
    heartbeats: (resource) => heartbeats.heartbeats(resource),
    records: (resource) => records.records(resource),
    writeRecord: (resource, instanceId, record) => records.writeRecord(resource, instanceId, record),
    acquireLease: (name, holder, ttlMs) => leases.acquireLease(name, holder, ttlMs),
    renewLease: (lease) => leases.renewLease(lease),
    releaseLease: (lease) => leases.releaseLease(lease),
    scalingSnapshot: (resource) => scaling.scalingSnapshot(resource),
    saveScalingState: (resource, state) => scaling.saveScalingState(resource, state),
    openInstances: (resource, count) => scaling.openInstances(resource, count),
    setDraining: (resource, ids, draining) => scaling.setDraining(resource, ids, draining),
    rebalanceWave: (resource, options) => scaling.rebalanceWave(resource, options),
    closeDrained: (resource, id) => scaling.closeDrained(resource, id),
    catalogPass: (resource, reader, options) => catalog.catalogPass(resource, reader, options),
    lastCatalogPass: (resource) => catalog.lastCatalogPass(resource),
    requestCatalogPass: (resource, reason) => catalog.requestCatalogPass(resource, reason),
    catalogPassDue: (resource, everyMs) => catalog.catalogPassDue(resource, everyMs),
  };
}

export type { Orchestration } from './types.js';
