import { decodeRecord, type ProfileBody, type RecordBody, type VerifiedRecord } from '@capsule/core'
import type { SqliteDatabase } from './open-database.js'

export interface FeedPage {
  records: VerifiedRecord[]
  /** Pass as `before` for the next page; absent on the last page. */
  next?: string
}

interface RecordRow {
  id: string
  bytes: Uint8Array
}

function targetOf(body: RecordBody): string | null {
  if (body.kind === 'delete') return body.target
  if (body.kind === 'reshare') return body.of
  return null
}

/** Decoded records kept in memory: pages and the site read the same newest records again and again. */
const DECODED_CACHE_LIMIT = 4096
/** Authors whose highest seq is kept in memory: those followed, resharing or reshared lately. */
const HIGHEST_SEQ_CACHE_LIMIT = 4096

/** Sets `key` in a map kept to `limit` entries, the oldest set first out. */
function setBounded<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  if (map.size >= limit && !map.has(key)) map.delete(map.keys().next().value as K)
  map.set(key, value)
}

/**
 * An author's newest profile that is not deleted. Walks the partial index `records_profiles`
 * (migration 2) from the top, so its cost does not grow with the author's posts.
 */
export const LATEST_PROFILE_SQL = `SELECT id, bytes FROM records
  WHERE author = ? AND kind = 'profile' AND bytes IS NOT NULL
  ORDER BY seq DESC, ts DESC LIMIT 1`

function encodeCursor(record: VerifiedRecord): string {
  return `${record.body.ts}.${record.id}`
}

function decodeCursor(cursor: string): { ts: number; id: string } {
  const dot = cursor.indexOf('.')
  const ts = Number(cursor.slice(0, dot))
  if (dot < 1 || !Number.isSafeInteger(ts))
    throw new RangeError(`"${cursor.slice(0, 80)}" is not a feed cursor`)
  return { ts, id: cursor.slice(dot + 1) }
}

/**
 * Records by content id. Deleting keeps the row (its author, seq and tombstone) and drops the
 * content, so a deleted record is never stored again when it is gossiped or synced back.
 */
export class RecordTable {
  readonly #db: SqliteDatabase
  readonly #decoded = new Map<string, VerifiedRecord>()
  /** Bumped by records that can change what any author's pages show: deletes and profiles. */
  #sharedRevision = 0
  /** Per author asked about with revisionOf: bumped by that author's other records. */
  readonly #authorRevisions = new Map<string, number>()
  /**
   * Highest seqs read from or committed to the file. The mesh asks for an author's on every
   * gossiped record, to see a gap; the query cost a tenth of storing the record. Filled and raised
   * only outside a transaction, so a rollback never leaves a seq here that the file lacks. Like the
   * revisions, writes by another connection to the file are not seen: the daemon is its only writer.
   */
  readonly #highestSeqs = new Map<string, number>()
  readonly #insert
  readonly #exists
  readonly #tombstoneFor
  readonly #dropContent
  readonly #get
  readonly #after
  readonly #highestSeq
  readonly #feed
  readonly #latestProfile
  readonly #count
  readonly #collisions
  readonly #syncNormal
  readonly #syncFull
  readonly #putAll

  constructor(db: SqliteDatabase) {
    this.#db = db
    // Made once: better-sqlite3 builds a transaction's wrappers on every `transaction()` call,
    // about a tenth of storing one gossiped record.
    this.#putAll = db.transaction((records: readonly VerifiedRecord[], receivedAt: number) =>
      records.filter((record) => this.#putOne(record, receivedAt)),
    )
    this.#insert = db.prepare(
      `INSERT INTO records (id, author, seq, kind, ts, target, bytes, deleted_by, received_at)
       VALUES (@id, @author, @seq, @kind, @ts, @target, @bytes, @deletedBy, @receivedAt)`,
    )
    this.#exists = db.prepare('SELECT 1 FROM records WHERE id = ?').pluck()
    this.#tombstoneFor = db
      .prepare(`SELECT id FROM records WHERE kind = 'delete' AND target = ? AND author = ? LIMIT 1`)
      .pluck()
    // Drops the target's content, and that of every reshare embedding it.
    this.#dropContent = db.prepare(
      `UPDATE records SET bytes = NULL, deleted_by = @deleteId
       WHERE bytes IS NOT NULL AND (
         (id = @target AND author = @author) OR
         (kind = 'reshare' AND target = @target AND EXISTS (
           SELECT 1 FROM records o WHERE o.id = @target AND o.author = @author)))`,
    )
    this.#get = db.prepare('SELECT id, bytes FROM records WHERE id = ? AND bytes IS NOT NULL')
    this.#after = db
      .prepare(
        `SELECT bytes FROM records WHERE author = ? AND seq > ? AND bytes IS NOT NULL
         ORDER BY seq, id LIMIT ?`,
      )
      .pluck()
    this.#highestSeq = db.prepare('SELECT coalesce(max(seq), 0) FROM records WHERE author = ?').pluck()
    // One query for both pages: the feed (own and followed authors) and an author's own page.
    this.#feed = db.prepare(
      `SELECT id, bytes FROM records
       WHERE bytes IS NOT NULL AND kind IN ('post', 'reshare')
         AND (author = @self OR (@withFollows AND author IN (SELECT author FROM follows)))
         AND (@beforeTs IS NULL OR (ts, id) < (@beforeTs, @beforeId))
       ORDER BY ts DESC, id DESC LIMIT @limit`,
    )
    this.#latestProfile = db.prepare(LATEST_PROFILE_SQL)
    // Kept by triggers since migration 3; a file opened read-only before it ran is counted.
    const counted =
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'record_counts'").get() !==
      undefined
    this.#count = db
      .prepare(
        counted ? 'SELECT held FROM record_counts' : 'SELECT count(*) FROM records WHERE bytes IS NOT NULL',
      )
      .pluck()
    this.#syncNormal = db.prepare('PRAGMA synchronous = NORMAL')
    this.#syncFull = db.prepare('PRAGMA synchronous = FULL')
    this.#collisions = db
      .prepare(
        counted
          ? 'SELECT collisions FROM record_counts'
          : 'SELECT count(*) FROM (SELECT 1 FROM records GROUP BY author, seq HAVING count(*) > 1)',
      )
      .pluck()
  }

  /**
   * Stores verified records in one transaction (one fsync for the batch) and returns those that
   * were new. A reshare's embedded original is stored as a record of its own author too.
   */
  put(records: readonly VerifiedRecord[], receivedAt = Date.now()): VerifiedRecord[] {
    const stored = this.#putAll.immediate(records, receivedAt)
    for (const record of stored) this.#countRevision(record)
    // Every record given now has its row (stored now or before), reshares' originals too.
    for (const record of records) {
      this.#noteSeq(record)
      if (record.body.kind === 'reshare') this.#noteSeq(record.body.original)
    }
    return stored
  }

  #countRevision(record: VerifiedRecord): void {
    const { body } = record
    if (body.kind === 'delete' || body.kind === 'profile') {
      this.#sharedRevision++
      return
    }
    this.#bumpAuthor(body.author)
    // A reshare also stores its original, which may be the asking author's.
    if (body.kind === 'reshare') this.#bumpAuthor(body.original.body.author)
  }

  #bumpAuthor(author: string): void {
    const revision = this.#authorRevisions.get(author)
    if (revision !== undefined) this.#authorRevisions.set(author, revision + 1)
  }

  /**
   * Grows whenever put() stores a record that can change what is read of `author`'s records: one
   * of theirs (or a reshare embedding one), any delete (which also drops reshares' content) and any
   * profile (reshares name their original's author). Other authors' posts and reshares, most of a
   * busy mesh's traffic, leave it alone. Only authors asked about are counted. Writes by another
   * process holding the same file are not counted; the daemon is its file's only writer.
   */
  revisionOf(author: string): number {
    let revision = this.#authorRevisions.get(author)
    if (revision === undefined) {
      revision = 0
      this.#authorRevisions.set(author, revision)
    }
    return this.#sharedRevision + revision
  }

  /**
   * Stores records received from elsewhere, like {@link put}, but commits without waiting for the
   * disk (WAL with `synchronous = NORMAL` for this one transaction): a crash of the process loses
   * none of them, a power cut may lose the last ones, and sync fetches those again. Nobody was
   * promised they are on disk, and an fsync per gossiped record held every hop back. The next
   * `put` (FULL) flushes them with its own commit.
   */
  putReceived(records: readonly VerifiedRecord[], receivedAt = Date.now()): VerifiedRecord[] {
    this.#syncNormal.run()
    try {
      return this.put(records, receivedAt)
    } finally {
      this.#syncFull.run()
    }
  }

  #putOne(record: VerifiedRecord, receivedAt: number): boolean {
    if (this.#exists.get(record.id) !== undefined) return false
    const { body } = record
    if (body.kind === 'reshare') this.#putOne(body.original, receivedAt)
    // A record whose author already deleted it (or whose reshared original was deleted) keeps
    // only its tombstone, whatever order the records arrive in.
    const contentAuthor = body.kind === 'reshare' ? body.original.body.author : body.author
    const contentId = body.kind === 'reshare' ? body.of : record.id
    const deletedBy = body.kind === 'delete' ? undefined : this.#tombstoneFor.get(contentId, contentAuthor)
    this.#insert.run({
      id: record.id,
      author: body.author,
      seq: body.seq,
      kind: body.kind,
      ts: body.ts,
      target: targetOf(body),
      bytes: deletedBy === undefined ? record.bytes : null,
      deletedBy: deletedBy ?? null,
      receivedAt,
    })
    if (body.kind === 'delete')
      this.#dropContent.run({ deleteId: record.id, target: body.target, author: body.author })
    return deletedBy === undefined
  }

  /**
   * A stored record was verified when it arrived; decoding it again also guards against a
   * tampered file. A record never changes under its id (a deleted one is no longer selected), so
   * the decoded form is cached, bounded, oldest evicted first.
   */
  #fromRow(row: RecordRow): VerifiedRecord {
    let record = this.#decoded.get(row.id)
    if (record === undefined) {
      record = decodeRecord(row.bytes, { now: Number.POSITIVE_INFINITY })
      setBounded(this.#decoded, row.id, record, DECODED_CACHE_LIMIT)
    }
    return record
  }

  get(id: string): VerifiedRecord | undefined {
    const row = this.#get.get(id) as RecordRow | undefined
    return row && this.#fromRow(row)
  }

  /** An author's records with a sequence number above `afterSeq`, oldest first: what sync serves. */
  bytesAfter(author: string, afterSeq: number, limit: number): Uint8Array[] {
    return this.#after.all(author, afterSeq, limit) as Uint8Array[]
  }

  /** The highest sequence number seen for an author, deleted records included; 0 for none. */
  highestSeq(author: string): number {
    const known = this.#highestSeqs.get(author)
    if (known !== undefined) return known
    const seq = this.#highestSeq.get(author) as number
    if (!this.#db.inTransaction) setBounded(this.#highestSeqs, author, seq, HIGHEST_SEQ_CACHE_LIMIT)
    return seq
  }

  /** After a put: raises the author's remembered seq, or forgets it while a transaction may roll back. */
  #noteSeq({ body: { author, seq } }: VerifiedRecord): void {
    const known = this.#highestSeqs.get(author)
    if (known === undefined) return
    if (this.#db.inTransaction) this.#highestSeqs.delete(author)
    else if (seq > known) this.#highestSeqs.set(author, seq)
  }

  /** Newest first: the owner's and followed authors' posts and reshares that are not deleted. */
  feed(self: string, limit: number, before?: string): FeedPage {
    return this.#page(self, true, limit, before)
  }

  /** Newest first: one author's own posts and reshares that are not deleted (their public site). */
  authorPage(author: string, limit: number, before?: string): FeedPage {
    return this.#page(author, false, limit, before)
  }

  #page(self: string, withFollows: boolean, limit: number, before: string | undefined): FeedPage {
    const cursor = before === undefined ? undefined : decodeCursor(before)
    const rows = this.#feed.all({
      self,
      withFollows: withFollows ? 1 : 0,
      beforeTs: cursor?.ts ?? null,
      beforeId: cursor?.id ?? null,
      limit: limit + 1,
    }) as RecordRow[]
    const records = rows.slice(0, limit).map((row) => this.#fromRow(row))
    const last = records.at(-1)
    return rows.length > limit && last ? { records, next: encodeCursor(last) } : { records }
  }

  /** The author's newest profile record, if any reached this node. */
  latestProfile(author: string): VerifiedRecord<ProfileBody> | undefined {
    const row = this.#latestProfile.get(author) as RecordRow | undefined
    return row && (this.#fromRow(row) as VerifiedRecord<ProfileBody>)
  }

  /** Records whose content is held (deleted ones keep only their tombstone). */
  count(): number {
    return this.#count.get() as number
  }

  /** How many (author, seq) pairs hold more than one record: forks, kept rather than lost. */
  collisions(): number {
    return this.#collisions.get() as number
  }
}
