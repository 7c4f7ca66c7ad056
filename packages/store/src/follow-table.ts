import type { SqliteDatabase } from './open-database.js'

export interface Follow {
  author: string
  followedAt: number
  /** What the user gave to follow: a peer id, a multiaddr or a site. */
  via: string | null
}

export class FollowTable {
  readonly #add
  readonly #remove
  readonly #list
  readonly #count

  constructor(db: SqliteDatabase) {
    this.#add = db.prepare(
      `INSERT INTO follows (author, followed_at, via) VALUES (?, ?, ?)
       ON CONFLICT (author) DO UPDATE SET via = coalesce(excluded.via, via)`,
    )
    this.#remove = db.prepare('DELETE FROM follows WHERE author = ?')
    this.#list = db.prepare('SELECT author, followed_at AS followedAt, via FROM follows ORDER BY followed_at')
    this.#count = db.prepare('SELECT count(*) FROM follows').pluck()
  }

  add(author: string, via?: string): void {
    this.#add.run(author, Date.now(), via ?? null)
  }

  /** Returns whether the author was followed. */
  remove(author: string): boolean {
    return this.#remove.run(author).changes > 0
  }

  list(): Follow[] {
    return this.#list.all() as Follow[]
  }

  count(): number {
    return this.#count.get() as number
  }
}
