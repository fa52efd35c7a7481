/**
 * The shape of every node we read back from the store, parsed at the
 * repository boundary with zod: a corrupt node is reported with its path and
 * never becomes a pod name, a count or a silent zero.
 */
import * as z from '../zod.js';
import { INSTANCE_ID } from '../domain/orchestration.js';
import type { VersionedNode } from '../store/port.js';

const count = z.int().check(z.nonnegative());

/** `<root>/<Resource>/<id>`: {"used":N,"count":M} (legacy; extra fields tolerated). */
export const InstanceNodeSchema = z.looseObject({ used: count, count });
/** `<root>/<Resource>/<id>/resources`: {"ids":[…]}. */
export const ResourcesNodeSchema = z.looseObject({ ids: z.array(z.string()) });
/** `<root>/<Resource>/<id>/_reload`: {"times":K}. */
export const ReloadNodeSchema = z.looseObject({ times: count });
/** `<state>/<Resource>/index/<resourceId>`: the owning instance id, as plain text. */
export const IndexEntrySchema = z.string().check(z.regex(INSTANCE_ID, 'an instance id'));

export const HeartbeatNodeSchema = z.object({
  at: z.int().check(z.nonnegative()),
  extra: z.optional(z.record(z.string(), z.unknown())),
});

export const InstanceRecordSchema = z.object({
  action: z.enum(['created', 'recycled', 'replaced', 'none', 'error']),
  reason: z.string(),
  pod: z.optional(z.string().check(z.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 pod name'))),
  /** Incarnation counter used to name pods uniquely. */
  generation: count,
  at: z.int().check(z.nonnegative()),
  error: z.optional(z.string()),
  /** Phase of that pod when last observed. */
  phase: z.optional(z.string()),
  /** Recycles and replacements of the instance so far, a container's restartCount; absent: none. */
  restarts: z.optional(count),
  /**
   * The crash-loop back-off (reconcile/decide.ts): set by each recycle or
   * replacement, dropped once the instance has stayed healthy long enough.
   */
  backoff: z.optional(
    z.object({
      /** Restarts since the instance last stayed healthy: the delay doubles with each. */
      streak: z.int().check(z.positive()),
      delayMs: count,
      /** Epoch ms before which the instance is not restarted again. */
      until: count,
      /** Since when it has been seen healthy without a break (absent: not healthy since the last restart). */
      healthySince: z.optional(count),
    }),
  ),
});

/** `<state>/<Resource>/capacity`: the kind's limits as the last orchestrate set them. */
export const KindCapacitySchema = z.object({
  maxInstances: z.int().check(z.minimum(1), z.maximum(100)),
  resourcePerInstance: z.int().check(z.minimum(1)),
});

const percentUsage = z.optional(z.number().check(z.nonnegative()));

/**
 * `<state>/<Resource>/scaling`: what the autoscaler keeps between runs (a
 * Lambda remembers nothing). A drain itself is not here: a draining instance
 * is marked on its own node (capacity 0), atomically with its list.
 */
export const ScalingStateSchema = z.object({
  /** Recommendations inside the scale-down window (decideScale's `history`). */
  history: z.array(z.object({ at: count, desired: count })).check(z.maxLength(10_000)),
  /** The last runs' load per metric (decideScale's `loads`): a load rising run after run is met ahead. */
  loads: z.optional(z.array(z.object({ at: count, cpu: percentUsage, memory: percentUsage })).check(z.maxLength(10))),
  /** The last scale carried out. */
  lastDecision: z.optional(
    z.object({ at: count, from: count, to: count, direction: z.enum(['up', 'down']), reason: z.string() }),
  ),
  /** The last run's decision, scale or not, and the usage it saw per instance. */
  lastRun: z.optional(
    z.object({
      at: count,
      current: count,
      desired: count,
      recommendation: count,
      direction: z.enum(['up', 'down', 'hold']),
      reason: z.string(),
      /** Alert types raised by that run: the next run raises only new ones. */
      alerts: z.array(z.string()),
      usage: z.record(z.string(), z.object({ cpuPercent: percentUsage, memoryPercent: percentUsage })),
    }),
  ),
  /** Instances a scale-out opened whose worker does not serve yet: placement prefers every other instance. */
  warming: z.optional(z.array(z.string().check(z.regex(INSTANCE_ID)))),
  /** A re-orchestration after a scale is owed until a run finds nothing left to move. */
  rebalance: z.optional(z.object({ since: count, moved: count, remaining: count, minimumMoves: count })),
});
export type ScalingState = z.infer<typeof ScalingStateSchema>;

/** `<state>/<Resource>/catalog`: the last catalog pass of the kind. */
export const CatalogPassSchema = z.object({
  resource: z.string(),
  status: z.enum(['done', 'held', 'skipped']),
  at: count,
  durationMs: count,
  scanned: count,
  assigned: count,
  missing: count,
  extra: count,
  healed: count,
  heldBack: count,
  reason: z.optional(z.string()),
});

export const LeaseNodeSchema = z.object({
  holder: z.string().check(z.minLength(1)),
  expiresAt: z.int().check(z.nonnegative()),
});

/** A node's data as JSON, or undefined when it is not JSON: for reads that skip what they cannot use. */
export function jsonOrUndefined(data: string | undefined): unknown {
  if (data === undefined) return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** A stored node does not have the shape its path promises. */
export class CorruptNodeError extends Error {
  override readonly name = 'CorruptNodeError';
  readonly code = 'CORRUPT_NODE';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`corrupt node ${path}: ${problem}`);
  }
}

/** Parses a node's JSON payload with `schema`; throws CorruptNodeError naming the path and the first problem. */
export function parseNode<T>(schema: z.ZodMiniType<T>, node: VersionedNode): T {
  let value: unknown;
  try {
    value = JSON.parse(node.data);
  } catch {
    throw new CorruptNodeError(node.path, `not JSON: ${JSON.stringify(node.data.slice(0, 80))}`);
  }
  return parseValue(schema, value, node.path);
}

/** Like parseNode for a value already decoded (e.g. a plain-text index entry). */
export function parseValue<T>(schema: z.ZodMiniType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new CorruptNodeError(path, `${where}${issue?.message ?? 'invalid'}`);
}
