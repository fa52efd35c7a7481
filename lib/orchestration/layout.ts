/**
 * Where things live in the store.
 *
 * The legacy layout (SPEC §2) is byte-compatible with what workers read:
 *   <root>/<Resource>/<id>            {"used":N,"count":M}
 *   <root>/<Resource>/<id>/resources  {"ids":[...]}
 *   <root>/<Resource>/<id>/_reload    {"times":K}
 *   <root>/<Resource>/<id>/tmp        (empty status node)
 *
 * Everything new lives under a separate state root, so nothing that lists
 * `<root>/<Resource>` ever sees a child that is not an instance:
 *   <state>/<Resource>/index/<resourceId>   "<instanceId>"  (one node per assigned resource)
 *   <state>/<Resource>/heartbeats/<id>      {"at":ms,"extra":{...}}
 *   <state>/<Resource>/records/<id>         InstanceRecord
 *   <state>/<Resource>/capacity             {"maxInstances":N,"resourcePerInstance":M} (set by orchestrate)
 *   <state>/<Resource>/pending/<resourceId> ""  (a resource waiting for room: the kind is at maxInstances)
 *   <state>/<Resource>/capacity-exhausted   {"since":ms}  (present while anything is pending; alerted once)
 *   <state>/<Resource>/scaling              ScalingState: recommendation history, last decision, last run, moves owed
 *   <state>/<Resource>/catalog              the last catalog pass: scanned, missing, extra, healed, held back
 *   <state>/<Resource>/catalog-request      {"at":ms,"reason":"…"}  (a pass asked for: a bc without ids, the API)
 *   <state>/<Resource>/catalog-checkpoint   where a stopped pass goes on from (last id, counts, extra candidates)
 *   <state>/leases/<name>                   {"holder":"…","expiresAt":ms}
 *   <state>/alerts/<time>-<type>-<R>-<rnd> {"alert":{…},"delivered":bool}  (the newest 100; reconcile forwards them)
 *
 * The index answers "which instance runs X" with one read at any scale, and
 * its create-if-absent is what makes a placement unique across processes.
 */
export const DEFAULT_ROOT = '/iota/orchestration';
export const DEFAULT_STATE_ROOT = '/iota/orchestrator';
/** What a store root may look like: an absolute path of znode-safe segments. */
export const ROOT_PATH = /^(\/[A-Za-z0-9._:-]+)+$/;

/** "." and ".." are valid resource ids but not valid znode names. '%' never occurs in an id, so this cannot collide. */
const encodeName = (id: string): string => (id === '.' ? '%2E' : id === '..' ? '%2E%2E' : id);
/** The resource id a child name of the index or pending directory stands for. */
export const decodeName = (name: string): string => (name === '%2E' ? '.' : name === '%2E%2E' ? '..' : name);

export class Layout {
  constructor(
    readonly root: string = DEFAULT_ROOT,
    readonly stateRoot: string = DEFAULT_STATE_ROOT,
  ) {
    for (const path of [root, stateRoot]) {
      if (!ROOT_PATH.test(path))
        throw new Error(`store root must be an absolute path like /iota/orchestration, got ${JSON.stringify(path)}`);
    }
  }

  kind = (resource: string): string => `${this.root}/${resource}`;
  instance = (resource: string, id: string): string => `${this.root}/${resource}/${id}`;
  resources = (resource: string, id: string): string => `${this.instance(resource, id)}/resources`;
  reload = (resource: string, id: string): string => `${this.instance(resource, id)}/_reload`;
  tmp = (resource: string, id: string): string => `${this.instance(resource, id)}/tmp`;

  indexDir = (resource: string): string => `${this.stateRoot}/${resource}/index`;
  index = (resource: string, resourceId: string): string => `${this.indexDir(resource)}/${encodeName(resourceId)}`;
  heartbeatsDir = (resource: string): string => `${this.stateRoot}/${resource}/heartbeats`;
  heartbeat = (resource: string, id: string): string => `${this.heartbeatsDir(resource)}/${id}`;
  recordsDir = (resource: string): string => `${this.stateRoot}/${resource}/records`;
  record = (resource: string, id: string): string => `${this.recordsDir(resource)}/${id}`;
  capacity = (resource: string): string => `${this.stateRoot}/${resource}/capacity`;
  pendingDir = (resource: string): string => `${this.stateRoot}/${resource}/pending`;
  pending = (resource: string, resourceId: string): string => `${this.pendingDir(resource)}/${encodeName(resourceId)}`;
  capacityExhausted = (resource: string): string => `${this.stateRoot}/${resource}/capacity-exhausted`;
  scaling = (resource: string): string => `${this.stateRoot}/${resource}/scaling`;
  catalogPass = (resource: string): string => `${this.stateRoot}/${resource}/catalog`;
  catalogRequest = (resource: string): string => `${this.stateRoot}/${resource}/catalog-request`;
  catalogCheckpoint = (resource: string): string => `${this.stateRoot}/${resource}/catalog-checkpoint`;
  alertsDir = (): string => `${this.stateRoot}/alerts`;
  alert = (name: string): string => `${this.alertsDir()}/${name}`;
  leasesDir = (): string => `${this.stateRoot}/leases`;
  lease = (name: string): string => `${this.leasesDir()}/${name}`;
}

/** The exact bytes workers expect; key order matters for byte-compatibility. */
export const encodeInstanceData = (used: number, count: number): string => JSON.stringify({ used, count });
export const encodeResources = (ids: readonly string[]): string => JSON.stringify({ ids });
export const encodeReload = (times: number): string => JSON.stringify({ times });
