/** An operation that needs a running mesh was called before start or after stop. */
export class MeshNotStartedError extends Error {
  override readonly name = 'MeshNotStartedError'
  constructor(operation: string) {
    super(`the mesh is not running; start it before calling ${operation}()`)
  }
}

/** A peer broke the sync protocol: a malformed, oversized, too long or dishonest answer. */
export class SyncProtocolError extends Error {
  override readonly name = 'SyncProtocolError'
  constructor(
    readonly code: 'bad-frame' | 'bad-record' | 'too-many' | 'too-large' | 'timeout' | 'refused',
    message: string,
  ) {
    super(message)
  }
}
