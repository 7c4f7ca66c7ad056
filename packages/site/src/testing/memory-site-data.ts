import {
  type PostBody,
  type ProfileBody,
  type RecordDraft,
  type Signer,
  signRecord,
  type VerifiedRecord,
} from '@capsule/core'
import type { SiteData, SitePage } from '../interfaces.js'

/** SiteData over an array, signing as one author: a stand-in for the store in tests. */
export class MemorySiteData implements SiteData {
  readonly ownerId: string
  readonly records: VerifiedRecord[] = []
  readonly #signer: Signer
  readonly #others = new Map<string, VerifiedRecord<ProfileBody>>()
  multiaddrs: string[] = []
  #clock: number
  /** What revision() answers; public, so a stand-in made with Object.create(data) can read it. */
  changes = 0

  constructor(signer: Signer, startTs = Date.UTC(2025, 0, 1)) {
    this.#signer = signer
    this.ownerId = signer.author
    this.#clock = startTs
  }

  sign(draft: RecordDraft): VerifiedRecord {
    this.#clock += 60_000
    const record = signRecord(draft, this.#signer, { seq: this.records.length + 1, ts: this.#clock })
    this.records.push(record)
    this.changes++
    return record
  }

  post(text: string): VerifiedRecord<PostBody> {
    return this.sign({ kind: 'post', text }) as VerifiedRecord<PostBody>
  }

  /** Remembers another author's profile so reshares of them can be named. */
  addAuthorProfile(profile: VerifiedRecord<ProfileBody>): void {
    this.#others.set(profile.body.author, profile)
    this.changes++
  }

  revision(): number {
    return this.changes
  }

  #deleted(): Set<string> {
    const gone = new Set<string>()
    for (const r of this.records) if (r.body.kind === 'delete') gone.add(r.body.target)
    return gone
  }

  profile(): VerifiedRecord<ProfileBody> | undefined {
    return this.records.findLast((r) => r.body.kind === 'profile') as VerifiedRecord<ProfileBody> | undefined
  }

  page({ before, limit }: { before?: string; limit: number }): SitePage {
    const gone = this.#deleted()
    const shown = this.records
      .filter((r) => (r.body.kind === 'post' || r.body.kind === 'reshare') && !gone.has(r.id))
      .reverse()
    let start = 0
    if (before !== undefined) {
      const index = shown.findIndex((r) => r.id === before)
      if (index < 0) throw new RangeError('unknown cursor')
      start = index + 1
    }
    const records = shown.slice(start, start + limit)
    const last = records.at(-1)
    return start + limit < shown.length && last ? { records, next: last.id } : { records }
  }

  record(id: string): VerifiedRecord | undefined {
    if (this.#deleted().has(id)) return undefined
    return this.records.find((r) => r.id === id)
  }

  recordsAfter(afterSeq: number, limit: number): Uint8Array[] {
    return this.records
      .filter((r) => r.body.seq > afterSeq)
      .slice(0, limit)
      .map((r) => r.bytes)
  }

  meshAddresses(): string[] {
    return this.multiaddrs
  }

  authorProfile(author: string): VerifiedRecord<ProfileBody> | undefined {
    return this.#others.get(author)
  }
}
