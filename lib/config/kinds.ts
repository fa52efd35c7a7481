import * as z from '../zod.js';
import { ScalingConfigSchema } from './scaling.js';

/** One orchestrated resource kind (SPEC §2 "Pods"). */
export const KindConfigSchema = z.object({
  /** The resource name, as in ZooKeeper and cm/notify `t`: "Thing", "Rule". */
  resource: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/)),
  /** Pod/instance name prefix, e.g. "iota-dac". */
  instanceName: z.string().check(z.regex(/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/)),
  /** Whether workers of this kind send heartbeats (and so may be recycled when silent). */
  heartbeat: z.boolean(),
  initInstances: z.int().check(z.minimum(1), z.maximum(99)),
  /** Elastic scaling (lib/config/scaling.ts); absent: disabled. */
  scaling: z.optional(ScalingConfigSchema),
});
export type KindConfig = z.infer<typeof KindConfigSchema>;

export const DEFAULT_KINDS: readonly KindConfig[] = [
  { resource: 'Thing', instanceName: 'iota-dac', heartbeat: true, initInstances: 10 },
  { resource: 'Rule', instanceName: 'iota-rules-engine', heartbeat: false, initInstances: 10 },
];

/**
 * Kinds come from `ORCH_KINDS` (a JSON array of KindConfig) or default to
 * Thing and Rule. A malformed value is a start-up error, never a silent default.
 */
export function kindsFromEnv(env: NodeJS.ProcessEnv = process.env): KindConfig[] {
  const raw = env.ORCH_KINDS;
  if (!raw) return [...DEFAULT_KINDS];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new Error(`ORCH_KINDS is not valid JSON: ${(error as Error).message}`);
  }
  const result = z.array(KindConfigSchema).check(z.minLength(1)).safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`ORCH_KINDS is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return result.data;
}

export const findKind = (kinds: readonly KindConfig[], resource: string): KindConfig | undefined =>
  kinds.find((kind) => kind.resource === resource);
