import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import {
  authorTopic,
  createSignaturePool,
  createSigner,
  type PostBody,
  recordId,
  type SignatureCheck,
  signRecord,
  type VerifiedRecord,
  verifySignature,
} from '@capsule/core'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryRecords } from './memory-records.js'
import type { MeshEvents } from './mesh.js'
import {
  quietLogger,
  startTestNode,
  type TestNode,
  until,
  untilMeshed,
  untilSubscribed,
} from './test-nodes.js'
import { type AcceptedTrace, type StoredTrace, TRACE_CHANNELS, traceNow } from './trace.js'

const running: TestNode[] = []
const cleanups: (() => Promise<void>)[] = []

async function node(...args: Parameters<typeof startTestNode>): Promise<TestNode> {
  const started = await startTestNode(...args)
  running.push(started)
  return started
}

function joinOf(n: TestNode): string[] {
  return n.mesh.multiaddrs().slice(0, 1)
}

function nextRecord(
  n: TestNode,
  match: (detail: MeshEvents['record']['detail']) => boolean,
  timeoutMs = 10_000,
) {
  return new Promise<MeshEvents['record']['detail']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a record')), timeoutMs)
    const listener = (event: MeshEvents['record']) => {
      if (!match(event.detail)) return
      clearTimeout(timer)
      n.mesh.removeEventListener('record', listener)
      resolve(event.detail)
    }
    n.mesh.addEventListener('record', listener)
  })
}

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()))
  await Promise.all(running.splice(0).map((n) => n.mesh.stop()))
})

describe('mesh', () => {
  it('delivers a post to a follower by gossip, and publishing alone does not throw', async () => {
    const a = await node()
    // No peers at all: publish must still resolve.
    await expect(a.post('alone')).resolves.toBeDefined()
    const b = await node({ join: joinOf(a) })
    const c = await node({ join: joinOf(a) })
    const followed = await b.mesh.follow(a.id)
    expect(followed.authorReached).toBe(true)
    expect(followed.highestSeq).toBe(1) // the backfill brought the post made before B followed
    expect(b.mesh.topics()).toContain(authorTopic(a.id))
    await untilSubscribed(a.mesh, b.id, a.id)
    const arrived = nextRecord(b, (d) => d.record.body.author === a.id && d.record.body.seq === 2)
    const record = await a.post('hello mesh')
    const detail = await arrived
    expect(detail).toMatchObject({ via: 'gossip', from: a.id })
    expect(detail.record.id).toBe(record.id)
    expect(b.records.of(a.id).map((r) => r.id)).toContain(record.id)
    // C follows nobody: it stores nothing of A's.
    expect(c.records.of(a.id)).toHaveLength(0)
    expect(b.mesh.connectedPeers().map((p) => p.peerId)).toContain(a.id)
    expect(a.peers.knownPeers().map((p) => p.peerId)).toContain(b.id)
  })

  it('traces a gossiped record: accepted by the validator, then stored, each once', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    await b.mesh.follow(a.id)
    await untilSubscribed(a.mesh, b.id, a.id)
    const traces: { name: string; message: AcceptedTrace | StoredTrace; at: number }[] = []
    for (const name of [TRACE_CHANNELS.accepted, TRACE_CHANNELS.stored]) {
      const listener = (message: unknown) =>
        traces.push({ name, message: message as AcceptedTrace | StoredTrace, at: traceNow() })
      subscribe(name, listener)
      cleanups.push(async () => {
        unsubscribe(name, listener)
      })
    }
    const arrived = nextRecord(b, (d) => d.record.body.author === a.id)
    const sentAt = traceNow()
    const record = await a.post('traced')
    await arrived
    expect(traces.map((trace) => trace.name)).toEqual([TRACE_CHANNELS.accepted, TRACE_CHANNELS.stored])
    const [accepted, stored] = traces as [(typeof traces)[0], (typeof traces)[0]]
    const acceptedTrace = accepted.message as AcceptedTrace
    expect(acceptedTrace).toMatchObject({ node: b.id, record: { id: record.id } })
    expect(acceptedTrace.receivedAt).toBeGreaterThanOrEqual(sentAt)
    expect(acceptedTrace.receivedAt).toBeLessThanOrEqual(accepted.at)
    const storedTrace = stored.message as StoredTrace
    expect(storedTrace).toMatchObject({ node: b.id, via: 'gossip' })
    expect(storedTrace.records.map((r) => r.id)).toEqual([record.id])
    expect(stored.at).toBeGreaterThanOrEqual(accepted.at)
  })

  it('lets a follower that was offline catch up by sync, redialling remembered peers', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    await b.mesh.follow(a.id)
    await b.mesh.stop()
    for (let i = 0; i < 30; i++) await a.post(`while B was away ${i}`)
    // No --join on restart: B dials the peers it remembered.
    await b.restart({ join: [], follows: [a.id] })
    await until(b.mesh, 'record', () => b.records.highestSeq(a.id) === 30, 'B to catch up')
    expect(b.records.of(a.id)).toHaveLength(30)
  })

  it('finds the followers of an absent author through the DHT and backfills from them', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    for (let i = 0; i < 3; i++) await a.post(`post ${i}`)
    await b.mesh.follow(a.id)
    expect(b.records.highestSeq(a.id)).toBe(3)
    // C follows nobody; D knows only C. Neither ever met A.
    const c = await node({ join: joinOf(b) })
    await a.mesh.stop()
    const d = await node({ join: joinOf(c) })
    await until(d.mesh, 'peer:connect', () => d.mesh.connectedPeers().length > 0, 'D on C')
    const result = await d.mesh.follow(a.id)
    expect(result.authorReached).toBe(false)
    expect(result.providers).toContain(b.id)
    expect(d.records.highestSeq(a.id)).toBe(3)
  })

  it('carries a reshare, with the original inside, to a follower of the resharer only', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    const c = await node({ join: joinOf(b) })
    const original = await a.post('worth sharing')
    await b.mesh.follow(a.id)
    await c.mesh.follow(b.id)
    expect(c.mesh.following()).toEqual([b.id])
    await untilSubscribed(b.mesh, c.id, b.id)
    const arrived = nextRecord(c, (d) => d.record.body.kind === 'reshare')
    const stored = b.records.of(a.id)[0] as VerifiedRecord<PostBody>
    await b.post({ kind: 'reshare', original: stored })
    const { record, via } = await arrived
    expect(via).toBe('gossip')
    expect(record.body.author).toBe(b.id)
    if (record.body.kind !== 'reshare') throw new Error('not a reshare')
    expect(record.body.of).toBe(original.id)
    expect(record.body.original.body.author).toBe(a.id)
    expect(record.body.original.body.text).toBe('worth sharing')
  })

  it('rejects bad records from a plain gossipsub node: stores none, forwards none, stays up', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    await b.mesh.follow(a.id)
    const topic = authorTopic(a.id)

    // Plain js-libp2p nodes, not Capsule code: one attacks, one listens behind B.
    const plain = async () => {
      const p = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: {
          identify: identify(),
          pubsub: gossipsub({
            globalSignaturePolicy: 'StrictNoSign',
            allowPublishToZeroTopicPeers: true,
            scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1']) },
          }),
        },
      })
      cleanups.push(async () => {
        await p.stop()
      })
      p.services.pubsub.subscribe(topic)
      await p.dial(multiaddr(b.mesh.multiaddrs()[0]!))
      return p
    }
    const rogue = await plain()
    const listener = await plain()
    const heard: Uint8Array[] = []
    const hears = (record: VerifiedRecord) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the listener never heard seq ${record.body.seq}`)),
          15_000,
        )
        const check = () => {
          if (!heard.some((data) => Buffer.from(data).equals(record.bytes))) return
          clearTimeout(timer)
          listener.services.pubsub.removeEventListener('message', check)
          resolve()
        }
        listener.services.pubsub.addEventListener('message', check)
        check()
      })
    listener.services.pubsub.addEventListener('message', (event) => heard.push(event.detail.data))
    await untilSubscribed(a.mesh, b.id, a.id)
    await untilSubscribed(b.mesh, rogue.peerId.toString(), a.id)
    await untilSubscribed(b.mesh, listener.peerId.toString(), a.id)
    // Gossipsub forwards only to mesh peers: a record arriving before the graft would skip it.
    await untilMeshed(b.mesh, listener.peerId.toString(), a.id)
    // The listener hears A only through B: this proves B forwards valid records to it.
    const genuine = await a.post('genuine')
    await hears(genuine)

    const signed = dagCbor.decode(genuine.bytes) as { payload: Uint8Array; sig: Uint8Array }
    signed.sig[0]! ^= 0xff
    const badSignature = dagCbor.encode(signed)
    const oversized = new Uint8Array(9000).fill(0xa1)
    const rogueSigner = createSigner(await generateKeyPair('Ed25519'))
    const wrongAuthor = signRecord({ kind: 'post', text: 'I am A, trust me' }, rogueSigner, {
      seq: 2,
      ts: Date.now(),
    })

    const rejected: string[] = []
    b.mesh.addEventListener('record:rejected', (event) => rejected.push(event.detail.reason))
    const before = b.records.size
    for (const data of [badSignature, oversized, wrongAuthor.bytes])
      await rogue.services.pubsub.publish(topic, data)
    await until(b.mesh, 'record:rejected', () => rejected.length === 3, 'three rejections')
    expect(rejected).toEqual(['bad-signature', 'too-large', 'wrong-author'])
    expect(b.records.size).toBe(before)

    // B is still up and still forwards what is valid; had it forwarded the bad ones, they would
    // have reached the listener before this post did (same stream, in order).
    const next = await a.post('still here')
    await hears(next)
    expect(b.records.highestSeq(a.id)).toBe(2)
    const heardHex = new Set(heard.map((data) => Buffer.from(data).toString('hex')))
    expect(heardHex).toEqual(new Set([genuine, next].map((r) => Buffer.from(r.bytes).toString('hex'))))
  })

  it('fills a gap in gossip by sync, asking the peer that gossiped', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    await b.mesh.follow(a.id)
    await untilSubscribed(a.mesh, b.id, a.id)
    // Records 1 and 2 never travel by gossip; 3 does, and shows B the gap.
    a.store('lost 1')
    a.store('lost 2')
    const filled = nextRecord(b, (d) => d.via === 'sync' && d.record.body.seq === 1)
    await a.post('gossiped 3')
    expect((await filled).from).toBe(a.id)
    await until(b.mesh, 'record', () => b.records.of(a.id).length === 3, 'B to hold all three')
  })

  it('reconciles on a timer when gossip carried nothing', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a), syncIntervalMs: 200 })
    await b.mesh.follow(a.id)
    a.store('never gossiped')
    const arrived = await nextRecord(b, (d) => d.record.body.author === a.id)
    expect(arrived.via).toBe('sync')
  })

  it('unfollows: leaves the topic, so the author stops sending', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    await b.mesh.follow(a.id)
    await untilSubscribed(a.mesh, b.id, a.id)
    await b.mesh.unfollow(a.id)
    expect(b.mesh.following()).toEqual([])
    expect(b.mesh.topics()).not.toContain(authorTopic(a.id))
    await until(a.mesh, 'topic:peers', () => !a.mesh.topicPeers(a.id).includes(b.id), 'B to leave the topic')
  })

  it('reaches nine followers from one author', async () => {
    const a = await node()
    const followers: TestNode[] = []
    // Like the e2e: everyone is told the author's address only.
    for (let i = 0; i < 9; i++) followers.push(await node({ join: joinOf(a) }))
    await Promise.all(followers.map((f) => f.mesh.follow(a.id)))
    await Promise.all(followers.map((f) => untilSubscribed(a.mesh, f.id, a.id)))
    const posts = []
    for (let i = 0; i < 5; i++) posts.push(await a.post(`to all ${i}`))
    await Promise.all(
      followers.map((f) =>
        until(f.mesh, 'record', () => f.records.highestSeq(a.id) === 5, `${f.id} to get all`),
      ),
    )
    for (const f of followers) expect(f.records.of(a.id).map((r) => r.id)).toEqual(posts.map((p) => p.id))
  })

  /** A node's records that, like a peer still catching up, serves none of `author`'s seqs 2 to 4. */
  function behind(author: string): MemoryRecords {
    return new (class extends MemoryRecords {
      override recordsAfter(who: string, afterSeq: number, limit: number): Uint8Array[] {
        const hidden = new Set(
          this.of(author)
            .filter((record) => record.body.seq >= 2 && record.body.seq <= 4)
            .map((record) => record.id),
        )
        return super
          .recordsAfter(who, afterSeq, limit + hidden.size)
          .filter((bytes) => who !== author || !hidden.has(recordId(bytes)))
          .slice(0, limit)
      }
    })()
  }

  /** Once `b` reaches the author `a`, it holds all five of a's records. */
  async function fillsFromAuthor(b: TestNode, a: TestNode): Promise<void> {
    await b.mesh.dial(joinOf(a)[0] as string)
    await until(b.mesh, 'record', () => b.records.of(a.id).length === 5, 'B to fill the gap from A', 10_000)
    expect(b.records.of(a.id).map((record) => record.body.seq)).toEqual([1, 2, 3, 4, 5])
  }

  it('fills a gap the relay could not, from the author once it is reached, though newer records came since', async () => {
    const a = await node()
    await a.post('one')
    const relay = await node({ join: joinOf(a), follows: [a.id] }, { records: behind(a.id) })
    await until(relay.mesh, 'record', () => relay.records.highestSeq(a.id) === 1, 'the relay to hold one')
    const b = await node({ join: joinOf(relay), follows: [a.id] })
    await until(b.mesh, 'record', () => b.records.highestSeq(a.id) === 1, 'B to hold one')
    await untilMeshed(relay.mesh, b.id, a.id)
    for (const text of ['two', 'three', 'four']) a.store(text)
    await a.post('five')
    // B saw five arrive above a gap; the relay could not fill it.
    await until(b.mesh, 'record', () => b.records.highestSeq(a.id) === 5, 'B to get five by gossip')
    await fillsFromAuthor(b, a)
  })

  it('remembers seqs a relay skipped in a sync answer, and fills them from the author', async () => {
    const a = await node()
    for (const text of ['one', 'two', 'three', 'four', 'five']) a.store(text)
    const relay = await node({ join: joinOf(a), follows: [a.id] }, { records: behind(a.id) })
    await until(relay.mesh, 'record', () => relay.records.of(a.id).length === 5, 'the relay to hold five')
    const b = await node({ join: joinOf(relay), follows: [a.id] })
    await until(b.mesh, 'record', () => b.records.highestSeq(a.id) === 5, 'B to sync one and five')
    await fillsFromAuthor(b, a)
  })

  it('asks peers for its own records after a restore from an old backup', async () => {
    const a = await node()
    const b = await node({ join: joinOf(a) })
    await b.mesh.follow(a.id)
    for (let i = 0; i < 4; i++) await a.post(`before the disk died ${i}`)
    await until(b.mesh, 'record', () => b.records.highestSeq(a.id) === 4, 'B to hold four')
    await a.mesh.stop()
    // A comes back from a backup that holds only its first post.
    const backup = new MemoryRecords()
    backup.ingest(a.records.of(a.id).slice(0, 1))
    const restored = await node({ join: joinOf(b) }, { key: a.key, records: backup })
    const head = await restored.mesh.syncOwnHead()
    // (The sweep that follows identify may have fetched them first; either way all four are here.)
    expect(head.highestSeq).toBe(4)
    expect(restored.records.of(a.id)).toHaveLength(4)
    const next = await restored.post('after the restore')
    expect(next.body.seq).toBe(5)
  })

  it('stores a burst of gossip without syncing for records that came back to back', async () => {
    const a = await node()
    const syncBatches: number[] = []
    const b = await node(
      { join: joinOf(a) },
      {
        verifySignatures: async (checks) => {
          syncBatches.push(checks.length)
          return checks.map(() => true)
        },
      },
    )
    await b.mesh.follow(a.id)
    await untilSubscribed(a.mesh, b.id, a.id)
    syncBatches.length = 0
    const via: string[] = []
    b.mesh.addEventListener('record', (event) => via.push(event.detail.via))
    // Published back to back, so several arrive in one read of the connection.
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.post(`burst ${i}`)))
    await until(b.mesh, 'record', () => b.records.highestSeq(a.id) === 40, 'B to hold the burst')
    expect(via).toEqual(Array(40).fill('gossip'))
    // Each is stored as gossipsub hands it over, so no later one looks like a gap. An explicit sync
    // joins any sync running, so this waits for it.
    await b.mesh.syncAuthor(a.id)
    expect(syncBatches.filter((size) => size > 0)).toEqual([])
  })

  it('catches up page by page with signatures checked on worker threads, and stops at a forgery', async () => {
    const pool = createSignaturePool({ threads: 2 })
    cleanups.push(() => pool.close())
    await pool.start()
    const batches: number[] = []
    const verifySignatures = (checks: readonly SignatureCheck[]) => {
      batches.push(checks.length)
      return pool.verify(checks)
    }
    const a = await node()
    for (let i = 0; i < 600; i++) a.store(`backlog ${i}`)
    // A relay holds A's records, one of them with a flipped signature bit (the `sig` bytes come
    // first in the canonical map, after a 7-byte header).
    const relayed = new MemoryRecords()
    relayed.ingest(
      a.records.of(a.id).map((record) => {
        if (record.body.seq !== 400) return record
        const bytes = Uint8Array.from(record.bytes)
        bytes[10] = (bytes[10] as number) ^ 1
        return { ...record, id: `${record.id}-forged`, bytes }
      }),
    )
    await a.mesh.stop()
    const relay = await node({}, { records: relayed })
    const warnings: string[] = []
    const logger = {
      ...quietLogger,
      warn: (_: string, fields?: Record<string, unknown>) => warnings.push(String(fields?.error)),
    }
    const b = await node({ join: joinOf(relay), follows: [a.id] }, { verifySignatures, logger })
    await until(b.mesh, 'sync:done', () => b.records.highestSeq(a.id) > 0, 'B to sync from the relay')
    expect(b.records.highestSeq(a.id)).toBe(399)
    expect(b.records.of(a.id)).toHaveLength(399)
    expect(warnings).toContain('the peer sent an invalid record (bad-signature)')
    // Whole pages went to the pool, not one record at a time.
    expect(batches[0]).toBe(256)
  })

  it('goes on past one round’s page cap without waiting for the sync timer', async () => {
    const a = await node()
    // 40 pages of 256 (255 new each, as a page starts at the last seq of the one before) is
    // 10,200 records a round.
    const records = Array.from({ length: 10_500 }, (_, i) =>
      signRecord({ kind: 'post', text: `r${i}` }, a.signer, { seq: i + 1, ts: Date.now() }),
    )
    a.records.ingest(records)
    const b = await node({ join: joinOf(a), follows: [a.id] })
    await until(b.mesh, 'sync:done', () => b.records.highestSeq(a.id) === 10_500, 'B to hold all', 30_000)
    expect(b.records.of(a.id)).toHaveLength(10_500)
  }, 60_000)

  it('has the verifier get ready as a follow begins, before the backfill’s first batch', async () => {
    const a = await node()
    for (let i = 0; i < 30; i++) a.store(`before the follow ${i}`)
    const calls: string[] = []
    const b = await node(
      {},
      {
        verifySignatures: async (checks) => {
          calls.push('verify')
          return checks.map(verifySignature)
        },
        prepareVerification: () => calls.push('prepare'),
      },
    )
    await b.mesh.follow(joinOf(a)[0] as string)
    expect(b.records.highestSeq(a.id)).toBe(30)
    expect(calls).toEqual(['prepare', 'verify'])
  })

  it('counts what a follow brought in, also when the sweep of the new connection brought it', async () => {
    const a = await node()
    for (let i = 0; i < 30; i++) a.store(`before the follow ${i}`)
    const b = await node()
    // Following by address makes the connection, whose sweep races the follow's own pull.
    const followed = await b.mesh.follow(joinOf(a)[0] as string)
    expect(b.records.highestSeq(a.id)).toBe(30)
    expect(followed).toMatchObject({ stored: 30, highestSeq: 30 })
  })
})
