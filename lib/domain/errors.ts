/** Errors of the domain: pure, typed, and carrying what a caller needs to show the user. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** An orchestration option outside its legacy range. */
export class InvalidOptionError extends DomainError {
  override readonly name = 'InvalidOptionError';
  readonly code = 'INVALID_OPTION';
  constructor(
    readonly field: string,
    /** The valid range in interval notation, e.g. "[3, 100)". */
    readonly range: string,
    readonly received: unknown,
  ) {
    super(`${field} must be an integer in ${range}, got ${JSON.stringify(received)}`);
  }
}

/** More instances would be needed than allowed. Message text is the legacy one. */
export class CapacityError extends DomainError {
  override readonly name = 'CapacityError';
  readonly code = 'CAPACITY_EXCEEDED';
  constructor(
    readonly required: number,
    readonly max: number,
  ) {
    super(`require instances more than the max: ${required}/${max}`);
  }
}

/** The resource id rule as users read it in error messages (the pattern is in resource-id.ts). */
export const RESOURCE_ID_RULE = 'resource id must be 1-128 characters of [A-Za-z0-9._:-]';

export class InvalidResourceIdError extends DomainError {
  override readonly name = 'InvalidResourceIdError';
  readonly code = 'INVALID_RESOURCE_ID';
  constructor(readonly resourceId: unknown) {
    super(`${RESOURCE_ID_RULE}, got ${JSON.stringify(resourceId)}`);
  }
}
