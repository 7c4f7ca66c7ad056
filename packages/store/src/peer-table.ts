import type { SqliteDatabase } from './open-database.js'

export interface KnownPeer {
  peerId: string
  multiaddrs: string[]
  lastSeen: number
}

/** Peers this node has reached, redialled at start so that `--join` is needed only once. */
export class PeerTable {
  readonly #upsert
  readonly #list
  readonly #count
  readonly #prune

  constructor(
    db: SqliteDatabase,
    readonly limit = 200,
  ) {
    this.#upsert = db.prepare(
      `INSERT INTO peers (peer_id, multiaddrs, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (peer_id) DO UPDATE SET multiaddrs = excluded.multiaddrs, last_seen = excluded.last_seen`,
    )
    this.#list = db.prepare(
      'SELECT peer_id, multiaddrs, last_seen FROM peers ORDER BY last_seen DESC LIMIT ?',
    )
    this.#count = db.prepare('SELECT count(*) FROM peers').pluck()
    // Bounded: a flood of peers must not grow the file without end.
    this.#prune = db.prepare(
      'DELETE FROM peers WHERE peer_id NOT IN (SELECT peer_id FROM peers ORDER BY last_seen DESC LIMIT ?)',
    )
  }

  remember(peerId: string, multiaddrs: readonly string[], seenAt = Date.now()): void {
    this.#upsert.run(peerId, JSON.stringify(multiaddrs), seenAt)
    this.#prune.run(this.limit)
  }

  list(limit = this.limit): KnownPeer[] {
    const rows = this.#list.all(limit) as { peer_id: string; multiaddrs: string; last_seen: number }[]
    return rows.map((row) => ({
      peerId: row.peer_id,
      multiaddrs: JSON.parse(row.multiaddrs),
      lastSeen: row.last_seen,
    }))
  }

  count(): number {
    return this.#count.get() as number
  }
}
