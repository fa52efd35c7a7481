/**
 * The shape of every node we read back from the store, parsed at the
 * repository boundary with zod: a corrupt node is reported with its path and
 * never becomes a pod name, a count or a silent zero.
 */
import * as z from 'zod';
import { INSTANCE_ID } from '../domain/orchestration.js';
import type { VersionedNode } from '../store/port.js';

const count = z.number().int().nonnegative();

/** `<root>/<Resource>/<id>`: {"used":N,"count":M} (legacy; extra fields tolerated). */
export const InstanceNodeSchema = z.looseObject({ used: count, count });
/** `<root>/<Resource>/<id>/resources`: {"ids":[…]}. */
export const ResourcesNodeSchema = z.looseObject({ ids: z.array(z.string()) });
/** `<root>/<Resource>/<id>/_reload`: {"times":K}. */
export const ReloadNodeSchema = z.looseObject({ times: count });
/** `<state>/<Resource>/index/<resourceId>`: the owning instance id, as plain text. */
export const IndexEntrySchema = z.string().regex(INSTANCE_ID, 'an instance id');

export const HeartbeatNodeSchema = z.object({
  at: z.number().int().nonnegative(),
  extra: z.record(z.string(), z.unknown()).optional(),
});

export const InstanceRecordSchema = z.object({
  action: z.enum(['created', 'recycled', 'replaced', 'none', 'error']),
  reason: z.string(),
  pod: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 pod name')
    .optional(),
  /** Incarnation counter used to name pods uniquely. */
  generation: count,
  at: z.number().int().nonnegative(),
  error: z.string().optional(),
  /** Phase of that pod when last observed. */
  phase: z.string().optional(),
});

/** `<state>/<Resource>/capacity`: the kind's limits as the last orchestrate set them. */
export const KindCapacitySchema = z.object({
  maxInstances: z.number().int().min(1).max(100),
  resourcePerInstance: z.number().int().min(1),
});

const percentUsage = z.number().nonnegative().optional();

/**
 * `<state>/<Resource>/scaling`: what the autoscaler keeps between runs (a
 * Lambda remembers nothing). A drain itself is not here: a draining instance
 * is marked on its own node (capacity 0), atomically with its list.
 */
export const ScalingStateSchema = z.object({
  /** Recommendations inside the scale-down window (decideScale's `history`). */
  history: z.array(z.object({ at: count, desired: count })).max(10_000),
  /** The last runs' load per metric (decideScale's `loads`): a load rising run after run is met ahead. */
  loads: z.array(z.object({ at: count, cpu: percentUsage, memory: percentUsage })).max(10).optional(),
  /** The last scale carried out. */
  lastDecision: z
    .object({ at: count, from: count, to: count, direction: z.enum(['up', 'down']), reason: z.string() })
    .optional(),
  /** The last run's decision, scale or not, and the usage it saw per instance. */
  lastRun: z
    .object({
      at: count,
      current: count,
      desired: count,
      recommendation: count,
      direction: z.enum(['up', 'down', 'hold']),
      reason: z.string(),
      /** Alert types raised by that run: the next run raises only new ones. */
      alerts: z.array(z.string()),
      usage: z.record(z.string(), z.object({ cpuPercent: percentUsage, memoryPercent: percentUsage })),
    })
    .optional(),
  /** Instances a scale-out opened whose worker does not serve yet: placement prefers every other instance. */
  warming: z.array(z.string().regex(INSTANCE_ID)).optional(),
  /** A re-orchestration after a scale is owed until a run finds nothing left to move. */
  rebalance: z.object({ since: count, moved: count, remaining: count, minimumMoves: count }).optional(),
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
  reason: z.string().optional(),
});

export const LeaseNodeSchema = z.object({ holder: z.string().min(1), expiresAt: z.number().int().nonnegative() });

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
export function parseNode<T>(schema: z.ZodType<T>, node: VersionedNode): T {
  let value: unknown;
  try {
    value = JSON.parse(node.data);
  } catch {
    throw new CorruptNodeError(node.path, `not JSON: ${JSON.stringify(node.data.slice(0, 80))}`);
  }
  return parseValue(schema, value, node.path);
}

/** Like parseNode for a value already decoded (e.g. a plain-text index entry). */
export function parseValue<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new CorruptNodeError(path, `${where}${issue?.message ?? 'invalid'}`);
}
