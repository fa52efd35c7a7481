import { InvalidResourceIdError } from './errors.js';

export { RESOURCE_ID_RULE } from './errors.js';

export const RESOURCE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const isResourceId = (value: unknown): value is string =>
  typeof value === 'string' && RESOURCE_ID_PATTERN.test(value);

/** Throws InvalidResourceIdError before anything is written. */
export function assertResourceIds(values: readonly unknown[]): asserts values is readonly string[] {
  for (const value of values) if (!isResourceId(value)) throw new InvalidResourceIdError(value);
}
