/**
 * Domain errors. Every failure a client can cause or observe is one of these
 * codes; `src/http/errors.ts` maps them to Swift status codes in one place.
 * Lower layers (store, swift, auth) throw these and never know about HTTP.
 */
export type ErrorCode =
  | 'BadRequest'
  | 'Unauthorized'
  | 'PaymentRequired'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'LengthRequired'
  | 'Conflict'
  | 'PreconditionFailed'
  | 'EntityTooLarge'
  | 'RangeNotSatisfiable'
  | 'EtagMismatch'
  | 'TooManyRequests'
  | 'RequestTimeout'
  | 'UriTooLong'
  | 'HeadersTooLarge'
  | 'ClientDisconnected'
  | 'InsufficientStorage'
  | 'Unavailable';

export class EdgeError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for the response (e.g. `allow` for 405, `size` for 416). */
  readonly details: Readonly<Record<string, string | number>>;

  constructor(code: ErrorCode, message: string, details: Record<string, string | number> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'EdgeError';
    this.code = code;
    this.details = details;
  }
}

export const badRequest = (message: string) => new EdgeError('BadRequest', message);
export const notFound = (message: string) => new EdgeError('NotFound', message);

/**
 * A failure an operator can act on from its message alone (bad config, port
 * in use, index locked): the CLI prints the message without a stack trace.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
}

/** True for errors that mean "the filesystem is full" (ENOSPC, EDQUOT). */
export function isOutOfSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Turns filesystem-full errors into 507; leaves everything else alone. */
export function asStorageError(err: unknown): unknown {
  if (isOutOfSpace(err)) return new EdgeError('InsufficientStorage', 'the data filesystem is full', {}, err);
  return err;
}
