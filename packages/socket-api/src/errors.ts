/**
 * Stable codes for errors that cross the socket. The CLI and scripts match on the code; the
 * message is for a person and says what to do.
 */
export type ApiErrorCode =
  | 'bad-json'
  | 'body-too-large'
  | 'unknown-route'
  | 'method-not-allowed'
  | 'invalid-argument'
  | 'invalid-record'
  | 'not-found'
  | 'not-reachable'
  | 'disk-full'
  | 'read-only'
  | 'storage-error'
  | 'internal'

const STATUS: Record<ApiErrorCode, number> = {
  'bad-json': 400,
  'body-too-large': 413,
  'unknown-route': 404,
  'method-not-allowed': 405,
  'invalid-argument': 400,
  'invalid-record': 422,
  'not-found': 404,
  'not-reachable': 504,
  'disk-full': 507,
  'read-only': 503,
  'storage-error': 500,
  internal: 500,
}

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string }
}

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message)
  }

  get status(): number {
    return STATUS[this.code]
  }

  toJSON(): ApiErrorBody {
    return { error: { code: this.code, message: this.message } }
  }
}

/** The client could not reach a daemon at the socket: none is running for this home. */
export class DaemonNotRunningError extends Error {
  override readonly name = 'DaemonNotRunningError'
  constructor(readonly socketPath: string) {
    super(`no Capsule daemon is running for this home (${socketPath}): start one with "capsule up"`)
  }
}

/** Another live daemon already answers on the socket. */
export class DaemonRunningError extends Error {
  override readonly name = 'DaemonRunningError'
  constructor(readonly socketPath: string) {
    super(`a Capsule daemon is already running on ${socketPath}: stop it first, or use another --home`)
  }
}
