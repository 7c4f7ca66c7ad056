/** What the cache needs of a reply: whether it may be kept (a 200) and its size. */
export interface CacheableReply {
  status: number
  body: Uint8Array
}

/**
 * Replies built from SiteData, kept while the data's revision stays the same: the site shows
 * only the owner's records, so one number tells when any page may have changed. Bounded by
 * bytes; the reply used least recently goes first.
 */
export class ReplyCache<Reply extends CacheableReply> {
  readonly #maxBytes: number
  /** In order of use, the most recent last. */
  readonly #replies = new Map<string, Reply>()
  #bytes = 0
  #revision: number | undefined

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** The reply kept under `key` at `revision`, or what `build` returns (kept if it is a 200). */
  get(key: string, revision: number, build: () => Reply): Reply {
    if (revision !== this.#revision) {
      this.#replies.clear()
      this.#bytes = 0
      this.#revision = revision
    }
    const kept = this.#replies.get(key)
    if (kept !== undefined) {
      this.#replies.delete(key)
      this.#replies.set(key, kept)
      return kept
    }
    const built = build()
    const size = key.length + built.body.length
    if (built.status !== 200 || size > this.#maxBytes) return built
    this.#replies.set(key, built)
    this.#bytes += size
    for (const [oldKey, old] of this.#replies) {
      if (this.#bytes <= this.#maxBytes) break
      this.#replies.delete(oldKey)
      this.#bytes -= oldKey.length + old.body.length
    }
    return built
  }
}
