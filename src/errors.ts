/**
 * flowkeeper's error registry: one stable code and HTTP status per kind of
 * failure, so API clients, logs and tests can rely on them.
 */
export const ErrorCodes = {
  FLOWKEEPER_ERR_CONFIG: { status: 500, message: 'invalid configuration' },
  FLOWKEEPER_ERR_MIGRATION: { status: 500, message: 'database migration failed' },
  FLOWKEEPER_ERR_BAD_PARAMETER: { status: 400, message: 'bad request parameter' },
  FLOWKEEPER_ERR_BAD_FILTER: { status: 400, message: 'bad flow filter' },
  FLOWKEEPER_ERR_BAD_REQUEST: { status: 400, message: 'malformed request' },
  FLOWKEEPER_ERR_BAD_POLICY: { status: 400, message: 'policy document cannot be read' },
  FLOWKEEPER_ERR_TOO_LARGE: { status: 413, message: 'request body too large' },
  FLOWKEEPER_ERR_INTERNAL: { status: 500, message: 'internal error' },
  FLOWKEEPER_ERR_NOT_FOUND: { status: 404, message: 'no such route' },
  FLOWKEEPER_ERR_FORBIDDEN: { status: 403, message: 'forbidden' },
  FLOWKEEPER_ERR_UNAUTHORIZED: { status: 401, message: 'missing or wrong bearer token' },
  FLOWKEEPER_ERR_TOO_EXPENSIVE: { status: 422, message: 'query too expensive' },
  FLOWKEEPER_ERR_TOO_MANY: { status: 429, message: 'too many concurrent subscribers' },
  FLOWKEEPER_ERR_BUSY: { status: 429, message: 'query capacity exhausted, retry later' },
  FLOWKEEPER_ERR_NOT_READY: { status: 503, message: 'not ready' },
  FLOWKEEPER_ERR_STORAGE: { status: 503, message: 'the storage engine failed' },
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export class FlowkeeperError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly parameter?: string,
    /** Seconds after which a retry may succeed (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'FlowkeeperError';
    this.status = ErrorCodes[code].status;
  }
}

/** Longest piece of user input an error message repeats back. */
export const MAX_ECHO = 200;

/** User input cut to MAX_ECHO characters for an error message. */
export function clip(text: string): string {
  return text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}…` : text;
}

/** Quotes user input for an error message, cut to MAX_ECHO characters. */
export function echo(text: unknown): string {
  return typeof text === 'string' ? JSON.stringify(clip(text)) : clip(JSON.stringify(text) ?? String(text));
}
