import type { SqliteDatabase } from './open-database.js'

export interface StoredIdentity {
  /** libp2p protobuf encoding of the Ed25519 private key. */
  privateKey: Uint8Array
  peerId: string
}

export class IdentityExistsError extends Error {
  override readonly name = 'IdentityExistsError'
  constructor(readonly peerId: string) {
    super(`this home already has an identity (${peerId}); it is never overwritten`)
  }
}

/** The node's one key. Losing it loses the identity, so it is written once and never replaced. */
export class IdentityTable {
  readonly #get
  readonly #insert

  constructor(db: SqliteDatabase) {
    this.#get = db.prepare('SELECT private_key AS privateKey, peer_id AS peerId FROM identity WHERE id = 1')
    this.#insert = db.prepare(
      'INSERT INTO identity (id, private_key, peer_id, created_at) VALUES (1, ?, ?, ?)',
    )
  }

  get(): StoredIdentity | undefined {
    return this.#get.get() as StoredIdentity | undefined
  }

  create(identity: StoredIdentity): void {
    const existing = this.get()
    if (existing !== undefined) throw new IdentityExistsError(existing.peerId)
    this.#insert.run(identity.privateKey, identity.peerId, Date.now())
  }
}
