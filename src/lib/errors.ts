/**
 * Domain errors. Every failure a client can cause or observe is one of these
 * codes, and each code has its status here, the one table every answering
 * surface uses (the Swift API, the console, the admin socket). Lower layers
 * (store, swift, auth) throw these and never build a response.
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

/** Each code's HTTP status (499: nginx's "client closed request", for the log only). */
export const STATUS: Readonly<Record<ErrorCode, number>> = {
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  LengthRequired: 411,
  Conflict: 409,
  PreconditionFailed: 412,
  EntityTooLarge: 413,
  RangeNotSatisfiable: 416,
  EtagMismatch: 422,
  TooManyRequests: 429,
  RequestTimeout: 408,
  UriTooLong: 414,
  HeadersTooLarge: 431,
  ClientDisconnected: 499,
  InsufficientStorage: 507,
  Unavailable: 503,
};

/** The status an error answers with: its code's, 400 for an operator's mistake, 500 for anything unforeseen. */
export function statusOf(err: unknown): number {
  if (err instanceof EdgeError) return STATUS[err.code];
  if (err instanceof OperatorError) return 400;
  return 500;
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
