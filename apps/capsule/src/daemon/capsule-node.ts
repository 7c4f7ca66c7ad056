import { EventEmitter } from 'node:events'
import {
  InvalidRecordError,
  isAuthorId,
  type ProfileBody,
  parseRecordId,
  type RecordDraft,
  signRecord,
  type VerifiedRecord,
} from '@capsule/core'
import {
  type CommittedTrace,
  committedChannel,
  type FollowResult,
  parseFollowTarget,
  traceNow,
} from '@capsule/mesh'
import { fetchRecordsFromSite, fetchWellKnown, SiteClientError, type SiteIdentity } from '@capsule/site'
import { ApiError } from '@capsule/socket-api'
import type { FeedPage, Follow, Store } from '@capsule/store'
import type { Identity } from '../identity.js'
import type { Logger } from '../logger.js'

/** What the node needs from the mesh: spread its own records, and find and sync authors. */
export interface MeshPort {
  publish(record: VerifiedRecord): Promise<unknown>
  follow(target: string): Promise<FollowResult>
  unfollow(author: string): Promise<void>
}

export type RecordOrigin = 'local' | 'mesh' | 'site'

export interface CapsuleNodeEvents {
  /** A record newly stored; `receivedAt` is when (ms since the epoch, as the store keeps it). */
  record: [record: VerifiedRecord, origin: RecordOrigin, receivedAt: number]
}

export interface ProfileUpdate {
  name?: string
  bio?: string
  site?: string
}

/**
 * The owner's actions on their node: sign, store (on disk before it is acknowledged), then
 * publish. Everything that arrives from elsewhere goes through {@link CapsuleNode.accept}.
 */
export class CapsuleNode extends EventEmitter<CapsuleNodeEvents> {
  constructor(
    readonly store: Store,
    readonly identity: Identity,
    readonly mesh: MeshPort,
    readonly logger: Logger,
    /** Name resolution for following by domain; tests give their own DNS server. */
    readonly resolve?: (hostname: string) => Promise<string[]>,
  ) {
    super()
    this.setMaxListeners(100)
  }

  /** Settles once peers were asked for this node's own latest records (see {@link signAfter}). */
  #ownHeadKnown: Promise<unknown> = Promise.resolve()

  /**
   * Holds back signing until `ownHead` settles: a node restored from an old backup must learn
   * the sequence numbers it already used before it signs the next one.
   */
  signAfter(ownHead: Promise<unknown>): void {
    this.#ownHeadKnown = ownHead.catch((error: unknown) => {
      this.logger.warn('could not ask peers for this node’s own records; signing anyway', {
        error: String(error),
      })
    })
  }

  get peerId(): string {
    return this.identity.peerId
  }

  /** Signs the next record of the owner's feed, stores it durably, then hands it to the mesh. */
  async publish(draft: RecordDraft): Promise<VerifiedRecord> {
    await this.#ownHeadKnown
    const signingAt = committedChannel.hasSubscribers ? traceNow() : 0
    const record = this.store.transaction(() => {
      const seq = this.store.records.highestSeq(this.peerId) + 1
      const signed = signRecord(draft, this.identity.signer, { seq, ts: Date.now() })
      this.store.records.put([signed], signed.body.ts)
      return signed
    })
    if (committedChannel.hasSubscribers)
      committedChannel.publish({ record, signingAt } satisfies CommittedTrace)
    this.emit('record', record, 'local', record.body.ts)
    // The record is on disk and will be served by sync, so a gossip failure is not the owner's error.
    this.mesh.publish(record).catch((error: unknown) => {
      this.logger.warn('gossip of a new record failed; followers will sync it', {
        id: record.id,
        error: String(error),
      })
    })
    return record
  }

  post(text: string): Promise<VerifiedRecord> {
    return this.publish({ kind: 'post', text })
  }

  reshare(id: string): Promise<VerifiedRecord> {
    const original = this.#existing(id)
    const post = original.body.kind === 'reshare' ? original.body.original : original
    if (post.body.kind !== 'post')
      throw new ApiError('invalid-argument', `${id} is a ${post.body.kind}; only posts can be reshared`)
    return this.publish({ kind: 'reshare', original: post as VerifiedRecord<typeof post.body> })
  }

  delete(id: string): Promise<VerifiedRecord> {
    const target = this.#existing(id)
    if (target.body.author !== this.peerId) {
      throw new ApiError(
        'invalid-argument',
        `${id} was written by ${target.body.author}; you can only delete your own records`,
      )
    }
    return this.publish({ kind: 'delete', target: id })
  }

  profile(): VerifiedRecord<ProfileBody> | undefined {
    return this.store.records.latestProfile(this.peerId)
  }

  updateProfile(update: ProfileUpdate): Promise<VerifiedRecord> {
    const current = this.profile()?.body
    const site = update.site ?? current?.site
    return this.publish({
      kind: 'profile',
      name: update.name ?? current?.name ?? '',
      bio: update.bio ?? current?.bio ?? '',
      ...(site ? { site } : {}),
    })
  }

  /**
   * Follows an author given as a peer id, a multiaddr ending in /p2p/<id>, or the domain or
   * https URL of their site. The follow is on disk before the search starts, so an author who
   * cannot be found now is still synced later.
   */
  async follow(target: string): Promise<FollowResult & { site?: string }> {
    if (!isMeshTarget(target)) return this.#followSite(target)
    let author: string
    try {
      author = parseFollowTarget(target).author
    } catch (error) {
      throw new ApiError('invalid-argument', (error as Error).message)
    }
    this.#refuseSelf(author)
    this.store.follows.add(author, target === author ? undefined : target)
    return this.mesh.follow(target)
  }

  /**
   * Reads the site's /.well-known/capsule (whose signed profile must be the stated peer id's),
   * follows through the mesh, and backfills from the site when the mesh cannot reach the author:
   * records are self-authenticating, so they are verified exactly as if they came from a peer.
   */
  async #followSite(target: string): Promise<FollowResult & { site: string }> {
    let identity: SiteIdentity
    try {
      identity = await fetchWellKnown(target, this.resolve ? { resolve: this.resolve } : {})
    } catch (error) {
      if (error instanceof SiteClientError)
        throw new ApiError('not-reachable', `cannot follow ${target}: ${error.message}`)
      throw error
    }
    this.#refuseSelf(identity.peerId)
    this.store.follows.add(identity.peerId, target)
    const result = await this.mesh.follow(identity.multiaddrs[0] ?? identity.peerId)
    if (!result.authorReached) {
      const records = await fetchRecordsFromSite(identity, {
        after: this.store.records.highestSeq(identity.peerId),
        ...(this.resolve ? { resolve: this.resolve } : {}),
      }).catch((error: unknown) => {
        this.logger.warn('backfill from the site failed', { site: identity.siteUrl, error: String(error) })
        return []
      })
      result.stored += this.accept(records, 'site').length
      result.highestSeq = this.store.records.highestSeq(identity.peerId)
    }
    return { ...result, site: identity.siteUrl }
  }

  #refuseSelf(author: string): void {
    if (author === this.peerId)
      throw new ApiError('invalid-argument', 'that is this node’s own id: you see your own posts already')
  }

  /** Puts the site's URL in the signed profile, once, so followers can find and check the site. */
  async announceSite(url: string): Promise<void> {
    if (this.profile()?.body.site !== url) await this.updateProfile({ site: url })
  }

  async unfollow(author: string): Promise<boolean> {
    const followed = this.store.follows.remove(author)
    await this.mesh.unfollow(author)
    return followed
  }

  following(): Follow[] {
    return this.store.follows.list()
  }

  feed(limit: number, before?: string): FeedPage {
    return this.store.records.feed(this.peerId, limit, before)
  }

  /** Stores records that arrived from the mesh or a site (already verified) and announces the new ones. */
  accept(records: readonly VerifiedRecord[], origin: RecordOrigin): VerifiedRecord[] {
    const receivedAt = Date.now()
    const stored = this.store.records.putReceived(records, receivedAt)
    for (const record of stored) this.emit('record', record, origin, receivedAt)
    return stored
  }

  #existing(id: string): VerifiedRecord {
    try {
      parseRecordId(id)
    } catch (error) {
      if (error instanceof InvalidRecordError) throw new ApiError('invalid-argument', error.message)
      throw error
    }
    const record = this.store.records.get(id)
    if (record === undefined)
      throw new ApiError('not-found', `no record ${id} on this node (deleted, or never received)`)
    return record
  }
}

/** A peer id or a multiaddr goes to the mesh; anything else names a site. */
function isMeshTarget(target: string): boolean {
  return target.startsWith('/') || isAuthorId(target.trim())
}
