import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createSigner,
  type PostBody,
  type RecordDraft,
  type Signer,
  signRecord,
  type VerifiedRecord,
} from '@capsule/core'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { IdentityExistsError, Store } from './index.js'
import { openDatabase } from './open-database.js'
import { LATEST_PROFILE_SQL } from './record-table.js'

let store: Store
let dir: string
let alice: Signer
let bob: Signer
let seqs: Map<string, number>

function sign(signer: Signer, draft: RecordDraft, ts = Date.now()): VerifiedRecord {
  const seq = (seqs.get(signer.author) ?? 0) + 1
  seqs.set(signer.author, seq)
  return signRecord(draft, signer, { seq, ts })
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'capsule-store-'))
  store = Store.open(join(dir, 'capsule.db'))
  alice = createSigner(await generateKeyPair('Ed25519'))
  bob = createSigner(await generateKeyPair('Ed25519'))
  seqs = new Map()
})

afterEach(() => store.close())

describe('Store', () => {
  it('creates the database file and its WAL readable by its owner only', () => {
    store.settings.set('x', '1')
    expect(statSync(join(dir, 'capsule.db')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'capsule.db-wal')).mode & 0o777).toBe(0o600)
  })

  it('keeps one identity and refuses to replace it', async () => {
    const key = await generateKeyPair('Ed25519')
    store.identity.create({ privateKey: privateKeyToProtobuf(key), peerId: alice.author })
    expect(() => store.identity.create({ privateKey: new Uint8Array(1), peerId: bob.author })).toThrow(
      IdentityExistsError,
    )
    expect(store.identity.get()?.peerId).toBe(alice.author)
  })

  it('stores records once and reports which were new', () => {
    const post = sign(alice, { kind: 'post', text: 'one' })
    expect(store.records.put([post, post])).toEqual([post])
    expect(store.records.put([post])).toEqual([])
    expect(store.records.get(post.id)?.body).toEqual(post.body)
    expect(store.records.highestSeq(alice.author)).toBe(1)
  })

  it('counts a revision of an author’s records that other authors’ posts leave alone', () => {
    const revision = () => store.records.revisionOf(alice.author)
    const before = revision()
    const bobsPost = sign(bob, { kind: 'post', text: 'not about alice' }) as VerifiedRecord<PostBody>
    store.records.put([bobsPost])
    expect(revision()).toBe(before)
    const alicesPost = sign(alice, { kind: 'post', text: 'hers' }) as VerifiedRecord<PostBody>
    store.records.put([alicesPost])
    expect(revision()).toBe(before + 1)
    store.records.put([alicesPost])
    expect(revision()).toBe(before + 1)
    // Bob resharing Alice's post, Bob's profile (a reshare names its author) and any delete.
    store.records.put([sign(bob, { kind: 'reshare', original: alicesPost })])
    expect(revision()).toBe(before + 2)
    store.records.put([sign(bob, { kind: 'reshare', original: bobsPost })])
    expect(revision()).toBe(before + 2)
    store.records.put([sign(bob, { kind: 'profile', name: 'Bob', bio: '' })])
    expect(revision()).toBe(before + 3)
    store.records.put([sign(bob, { kind: 'delete', target: bobsPost.id })])
    expect(revision()).toBe(before + 4)
  })

  it('keeps both records of a sequence collision', () => {
    const first = signRecord({ kind: 'post', text: 'from the laptop' }, alice, { seq: 1, ts: 1 })
    const second = signRecord({ kind: 'post', text: 'from the old backup' }, alice, { seq: 1, ts: 2 })
    store.records.put([first, second])
    expect(store.records.bytesAfter(alice.author, 0, 10)).toHaveLength(2)
    expect(store.records.collisions()).toBe(1)
  })

  it('keeps its counts of records and collisions exact through stores, forks and deletes', () => {
    const scanned = () => {
      const db = openDatabase(join(dir, 'capsule.db'), { readonly: true })
      const held = db.prepare('SELECT count(*) FROM records WHERE bytes IS NOT NULL').pluck().get()
      const forks = db
        .prepare('SELECT count(*) FROM (SELECT 1 FROM records GROUP BY author, seq HAVING count(*) > 1)')
        .pluck()
        .get()
      db.close()
      return { held, forks }
    }
    const counted = () => ({ held: store.records.count(), forks: store.records.collisions() })
    const post = sign(alice, { kind: 'post', text: 'kept, then deleted' }) as VerifiedRecord<PostBody>
    store.records.put([post, sign(bob, { kind: 'reshare', original: post })])
    const fork = (text: string, ts: number) => signRecord({ kind: 'post', text }, bob, { seq: 7, ts })
    store.records.put([fork('one', 1), fork('two', 2), fork('three', 3)])
    // A delete that arrives before its target: the target is stored as a tombstone only.
    const early = signRecord({ kind: 'post', text: 'deleted early' }, alice, { seq: 9, ts: 9 })
    store.records.put([signRecord({ kind: 'delete', target: early.id }, alice, { seq: 10, ts: 10 })])
    store.records.put([early])
    expect(counted()).toEqual(scanned())
    expect(counted()).toEqual({ held: 6, forks: 1 })
    // Drops the post's content and the reshare's that embeds it.
    store.records.put([sign(alice, { kind: 'delete', target: post.id })])
    expect(counted()).toEqual(scanned())
    expect(counted()).toEqual({ held: 5, forks: 1 })
  })

  it('counts the records of a file written before the counts were kept', () => {
    const path = join(dir, 'capsule.db')
    store.records.put([
      sign(alice, { kind: 'post', text: 'one' }),
      sign(alice, { kind: 'post', text: 'two' }),
    ])
    store.close()
    // The file as schema 2 left it: no counts, no triggers.
    const db = openDatabase(path)
    db.exec(`DROP TRIGGER record_counts_insert; DROP TRIGGER record_counts_content;
             DROP TRIGGER record_counts_delete; DROP TABLE record_counts; PRAGMA user_version = 2`)
    db.close()
    const readOnly = Store.open(path, { readonly: true })
    expect(readOnly.records.count()).toBe(2)
    readOnly.close()
    store = Store.open(path)
    store.records.put([sign(alice, { kind: 'post', text: 'three' })])
    expect(store.records.count()).toBe(3)
  })

  it('serves an author’s records after a sequence number, oldest first, bounded', () => {
    const posts = [1, 2, 3, 4].map((n) => sign(alice, { kind: 'post', text: `post ${n}` }))
    store.records.put(posts)
    const served = store.records.bytesAfter(alice.author, 1, 2)
    expect(served.map((bytes) => Buffer.from(bytes))).toEqual(
      [posts[1], posts[2]].map((p) => Buffer.from(p!.bytes)),
    )
  })

  it('pages the feed newest first over own and followed authors only', () => {
    const own = [1, 2, 3].map((n) => sign(alice, { kind: 'post', text: `mine ${n}` }, 1000 + n))
    const bobs = sign(bob, { kind: 'post', text: 'not followed yet' }, 1010)
    store.records.put([...own, bobs])
    expect(store.records.feed(alice.author, 10).records.map((r) => r.id)).toEqual(
      own.map((r) => r.id).reverse(),
    )
    store.follows.add(bob.author)
    const first = store.records.feed(alice.author, 2)
    expect(first.records.map((r) => r.id)).toEqual([bobs.id, own[2]!.id])
    const second = store.records.feed(alice.author, 2, first.next)
    expect(second.records.map((r) => r.id)).toEqual([own[1]!.id, own[0]!.id])
    expect(second.next).toBeUndefined()
    expect(store.records.authorPage(alice.author, 10).records.map((r) => r.id)).toEqual(
      own.map((r) => r.id).reverse(),
    )
  })

  it('drops deleted content, its reshares, and keeps the tombstone whatever the arrival order', () => {
    const post = sign(alice, { kind: 'post', text: 'regret' })
    const reshare = sign(bob, { kind: 'reshare', original: post as VerifiedRecord<PostBody> })
    const del = sign(alice, { kind: 'delete', target: post.id })
    store.records.put([reshare])
    expect(store.records.get(post.id)).toBeDefined()
    store.records.put([del])
    expect(store.records.get(post.id)).toBeUndefined()
    expect(store.records.get(reshare.id)).toBeUndefined()
    expect(store.records.get(del.id)).toBeDefined()
    expect(store.records.put([post])).toEqual([])
    expect(store.records.highestSeq(alice.author)).toBe(2)
  })

  it('keeps the highest seq in step with what is stored, reshared originals included', () => {
    expect(store.records.highestSeq(alice.author)).toBe(0)
    expect(store.records.highestSeq(bob.author)).toBe(0)
    const posts = [1, 2, 3].map((n) => sign(alice, { kind: 'post', text: `post ${n}` }))
    store.records.put([posts[2]!, posts[0]!])
    expect(store.records.highestSeq(alice.author)).toBe(3)
    store.records.putReceived([posts[1]!])
    expect(store.records.highestSeq(alice.author)).toBe(3)
    const later = sign(alice, { kind: 'post', text: 'four' }) as VerifiedRecord<PostBody>
    store.records.put([sign(bob, { kind: 'reshare', original: later })])
    expect(store.records.highestSeq(alice.author)).toBe(4)
    expect(store.records.highestSeq(bob.author)).toBe(1)
  })

  it('does not remember a seq whose transaction rolled back', () => {
    const first = sign(alice, { kind: 'post', text: 'kept' })
    store.records.put([first])
    expect(store.records.highestSeq(alice.author)).toBe(1)
    const second = sign(alice, { kind: 'post', text: 'rolled back' })
    expect(() =>
      store.transaction(() => {
        store.records.put([second])
        expect(store.records.highestSeq(alice.author)).toBe(2)
        throw new Error('the commit failed')
      }),
    ).toThrow('the commit failed')
    expect(store.records.get(second.id)).toBeUndefined()
    expect(store.records.highestSeq(alice.author)).toBe(1)
    store.transaction(() => store.records.put([second]))
    expect(store.records.highestSeq(alice.author)).toBe(2)
  })

  it('refuses content whose delete arrived first', () => {
    const post = sign(alice, { kind: 'post', text: 'gone before it came' })
    const del = sign(alice, { kind: 'delete', target: post.id })
    store.records.put([del])
    expect(store.records.put([post])).toEqual([])
    expect(store.records.get(post.id)).toBeUndefined()
  })

  it('ignores a delete by someone other than the author', () => {
    const post = sign(alice, { kind: 'post', text: 'mine' })
    store.records.put([post, sign(bob, { kind: 'delete', target: post.id })])
    expect(store.records.get(post.id)).toBeDefined()
  })

  it('finds the newest profile that is not deleted, forks broken by time', () => {
    const first = sign(alice, { kind: 'profile', name: 'Alice', bio: '' })
    const posts = [1, 2, 3].map((n) => sign(alice, { kind: 'post', text: `post ${n}` }))
    const second = sign(alice, { kind: 'profile', name: 'Alice B.', bio: '' })
    store.records.put([first, ...posts, second, sign(bob, { kind: 'profile', name: 'Bob', bio: '' })])
    expect(store.records.latestProfile(alice.author)?.id).toBe(second.id)
    store.records.put([sign(alice, { kind: 'delete', target: second.id })])
    expect(store.records.latestProfile(alice.author)?.id).toBe(first.id)
    // Stored last but signed earlier with the same seq: the later signature still wins.
    const { seq, ts } = first.body
    const older = signRecord({ kind: 'profile', name: 'Alice, old', bio: '' }, alice, { seq, ts: ts - 1 })
    store.records.put([older])
    expect(store.records.latestProfile(alice.author)?.id).toBe(first.id)
  })

  it('reads the newest profile from its own index, with no sort', () => {
    const records = Array.from({ length: 50 }, (_, n) => sign(alice, { kind: 'post', text: `post ${n}` }))
    store.records.put([sign(alice, { kind: 'profile', name: 'Alice', bio: '' }), ...records])
    const db = openDatabase(join(dir, 'capsule.db'), { readonly: true })
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${LATEST_PROFILE_SQL}`)
      .all(alice.author)
      .map((step) => (step as { detail: string }).detail)
    db.close()
    expect(plan).toEqual(['SEARCH records USING INDEX records_profiles (author=?)'])
  })

  it('remembers a bounded number of peers, most recent first', () => {
    const small = Store.open(join(dir, 'peers.db'))
    small.peers.remember(alice.author, [`/ip4/127.0.0.1/tcp/1/p2p/${alice.author}`], 1000)
    small.peers.remember(bob.author, [`/ip4/127.0.0.1/tcp/2/p2p/${bob.author}`], 2000)
    expect(small.peers.list().map((p) => p.peerId)).toEqual([bob.author, alice.author])
    small.close()
  })
})
