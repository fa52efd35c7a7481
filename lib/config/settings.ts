import * as z from '../zod.js';

/** Tunables of the reconcile loop and heartbeats, from the environment. */
export const SettingsSchema = z.object({
  /** No heartbeat for this long → the instance is stale (legacy check period: 90 s). */
  heartbeatTimeoutMs: z.int().check(z.positive()),
  /** A pod younger than this is never recycled for silence: it may still be starting. */
  startupGraceMs: z.int().check(z.nonnegative()),
  /** More than this fraction of a kind's instances stale at once → suspect the heartbeat pipeline, recycle none. */
  fleetSilentFraction: z.number().check(z.gt(0), z.maximum(1)),
  maxRecyclesPerRun: z.int().check(z.nonnegative()),
  /**
   * Most pods one reconcile run creates per kind. Within it creations go in slow-start
   * batches (1, 2, 4, 8 …, doubling while they succeed), as the ReplicaSet controller's do.
   */
  maxPodCreationsPerRun: z.int().check(z.positive()),
  /** How long a reconcile lease lasts if its holder dies. */
  leaseTtlMs: z.int().check(z.positive()),
  /**
   * How long an orchestrate lease lasts between renewals. Below the API
   * timeout (29 s): an orchestrate whose caller gave up blocks the next one
   * for no longer than that.
   */
  orchestrateLeaseTtlMs: z.int().check(z.positive()),
});
export type Settings = z.infer<typeof SettingsSchema>;

export const DEFAULT_SETTINGS: Settings = {
  heartbeatTimeoutMs: 90_000,
  startupGraceMs: 120_000,
  fleetSilentFraction: 0.5,
  maxRecyclesPerRun: 3,
  maxPodCreationsPerRun: 64,
  leaseTtlMs: 60_000,
  orchestrateLeaseTtlMs: 25_000,
};

const ENV_NAMES: Record<keyof Settings, { name: string; scale: number }> = {
  heartbeatTimeoutMs: { name: 'HEARTBEAT_TIMEOUT_SECONDS', scale: 1000 },
  startupGraceMs: { name: 'STARTUP_GRACE_SECONDS', scale: 1000 },
  fleetSilentFraction: { name: 'FLEET_SILENT_FRACTION', scale: 1 },
  maxRecyclesPerRun: { name: 'MAX_RECYCLES_PER_RUN', scale: 1 },
  maxPodCreationsPerRun: { name: 'MAX_POD_CREATIONS_PER_RUN', scale: 1 },
  leaseTtlMs: { name: 'LEASE_TTL_SECONDS', scale: 1000 },
  orchestrateLeaseTtlMs: { name: 'ORCHESTRATE_LEASE_SECONDS', scale: 1000 },
};

/** Reads the settings; a malformed variable is a start-up error naming it. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const settings: Record<string, number> = { ...DEFAULT_SETTINGS };
  for (const [key, { name, scale }] of Object.entries(ENV_NAMES)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
    settings[key] = Math.round(value * scale * 1000) / 1000;
  }
  const result = SettingsSchema.safeParse(settings);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = String(issue?.path[0]) as keyof Settings;
    throw new Error(`${ENV_NAMES[key]?.name ?? key} is out of range: ${issue?.message}`);
  }
  return result.data;
}
