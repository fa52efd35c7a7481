/** Errors of the use cases, each mapping to one HTTP status in the API. */

/** The resource kind is not configured (HTTP 404). */
export class UnknownResourceError extends Error {
  override readonly name = 'UnknownResourceError';
  readonly code = 'UNKNOWN_RESOURCE';
  constructor(
    readonly resource: string,
    readonly known: readonly string[],
  ) {
    super(`unknown resource kind "${resource}"; configured kinds: ${known.join(', ')}`);
  }
}

/** Another holder has the lease, e.g. a concurrent orchestrate (HTTP 409). */
export class LeaseHeldError extends Error {
  override readonly name = 'LeaseHeldError';
  readonly code = 'LEASE_HELD';
  readonly retryable = true;
  constructor(
    readonly lease: string,
    readonly holder: string,
    readonly expiresAt: number,
  ) {
    super(`${lease} is held by ${holder} until ${new Date(expiresAt).toISOString()}`);
  }
}

/** A lease expired and was taken over while its holder was still working: the holder must stop. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  readonly code = 'LEASE_LOST';
  readonly retryable = true;
  constructor(
    readonly lease: string,
    readonly holder: string,
  ) {
    super(`${lease} was taken over while ${holder} still worked under it`);
  }
}
