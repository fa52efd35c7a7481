/**
 * What every use case module shares: the instance repository, the clock, the
 * settings and the logger, plus the configured kinds and the small helpers of
 * batching. Built once per App by `createOrchestration`.
 */
import type { Clock } from '../clock.js';
import { findKind, type KindConfig } from '../config/kinds.js';
import type { Settings } from '../config/settings.js';
import { assertResourceIds } from '../domain/resource-id.js';
import type { Logger } from '../log.js';
import type { NodeStore, RetryOptions } from '../store/port.js';
import { UnknownResourceError } from './errors.js';
import type { InstanceRepository } from './repository.js';

export interface OrchestrationContext {
  readonly store: NodeStore;
  readonly repository: InstanceRepository;
  readonly clock: Clock;
  readonly settings: Settings;
  readonly logger: Logger;
}

/** Conflict retries of one store operation: many short, jittered attempts (racing writers spread out). */
export const STORE_RETRY: RetryOptions = { attempts: 30, baseDelayMs: 4, maxDelayMs: 400 };

/** The configured resource kinds, looked up by name. */
export class Kinds {
  constructor(readonly all: readonly KindConfig[]) {}

  /** The kind, or UnknownResourceError (HTTP 404) naming the configured ones. */
  get(resource: string): KindConfig {
    const kind = findKind(this.all, resource);
    if (!kind)
      throw new UnknownResourceError(
        resource,
        this.all.map((k) => k.resource),
      );
    return kind;
  }

  has(resource: string): boolean {
    return findKind(this.all, resource) !== undefined;
  }

  /** The kind, after checking every resource id (nothing is written for a call with a bad id). */
  validated(resource: string, ids: readonly string[]): KindConfig {
    const kind = this.get(resource);
    assertResourceIds(ids);
    return kind;
  }
}

export const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

export const chunks = <T>(values: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
};
