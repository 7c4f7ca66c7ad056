import { createSigner, type Signer, signRecord, type VerifiedRecord } from '@capsule/core'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream, StreamHandler } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SyncProtocolError } from './errors.js'
import { MemoryRecords } from './memory-records.js'
import {
  decodeHeader,
  decodeRequest,
  encodeHeader,
  encodeRequest,
  type PeerAllowance,
  requestHeads,
  SYNC_MAX_RECORDS,
  SYNC_PAGE_BYTES,
  SYNC_PAGE_RECORDS,
  SyncRefusedError,
  serveSync,
} from './sync-protocol.js'
import { requestRecords, type SyncTestPair, startSyncTestPair } from './sync-test-pair.js'
import { TokenBucket } from './token-bucket.js'

// Two bare libp2p nodes over loopback: the server side is either the real serveSync or a fake
// neighbour written frame by frame, to see what the client does with a hostile answer.
let pair: SyncTestPair
let author: Signer
let other: Signer
const store = new MemoryRecords()

function post(signer: Signer, seq: number, text = `post ${seq}`): VerifiedRecord {
  return signRecord({ kind: 'post', text }, signer, { seq, ts: Date.now() })
}

function generous(records = 10_000): PeerAllowance {
  return { requests: new TokenBucket(100, 100), records: new TokenBucket(records, records) }
}

function serveWith(handler: StreamHandler): Promise<void> {
  return pair.serveWith(handler)
}

async function serveReal(allowance = generous(), records = store): Promise<void> {
  await serveWith((stream) => {
    void serveSync(stream, { records, allowance }).catch(() => undefined)
  })
}

function open(): Promise<Stream> {
  return pair.open()
}

function send(stream: Stream, ...frames: Uint8Array[]): void {
  for (const frame of frames) stream.send(lp.encode.single(frame))
}

/** Sends raw request bytes and returns the decoded answer header; the rest is not read. */
async function rawRequest(bytes: Uint8Array) {
  const stream = await open()
  send(stream, bytes)
  await stream.close()
  try {
    for await (const frame of lp.decode(stream)) return decodeHeader(frame.subarray())
    throw new Error('no answer')
  } finally {
    // Else a server with more pages to send would wait for this reader until its deadline.
    stream.abort(new Error('read the header only'))
  }
}

beforeAll(async () => {
  pair = await startSyncTestPair()
  author = createSigner(await generateKeyPair('Ed25519'))
  other = createSigner(await generateKeyPair('Ed25519'))
  store.ingest(Array.from({ length: 300 }, (_, i) => post(author, i + 1)))
})

afterAll(async () => {
  await pair?.stop()
})

describe('sync messages', () => {
  it('round-trips requests and refuses malformed ones', () => {
    const request = { op: 'records', author: author.author, after: 3, limit: 10 } as const
    expect(decodeRequest(encodeRequest(request))).toEqual(request)
    const bad = (value: unknown) => () => decodeRequest(dagCbor.encode(value))
    expect(bad({ ...request, extra: 1 })).toThrow(SyncProtocolError)
    expect(bad({ ...request, author: 'someone' })).toThrow(/author id/)
    expect(bad({ ...request, after: -1 })).toThrow(/after/)
    expect(bad({ ...request, limit: 0 })).toThrow(/limit/)
    expect(bad({ op: 'heads', authors: [] })).toThrow(/authors/)
    expect(bad({ op: 'delete-everything' })).toThrow(/op/)
    expect(() => decodeRequest(new Uint8Array([0xff, 0x00]))).toThrow(/DAG-CBOR/)
  })
})

describe('sync test vectors (docs/PROTOCOL.md)', () => {
  const zeroSeedAuthor = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
  const authorHex = Buffer.from(zeroSeedAuthor).toString('hex')

  it('encodes requests and headers byte for byte', () => {
    expect(hex(encodeRequest({ op: 'records', author: zeroSeedAuthor, after: 0, limit: 256 }))).toBe(
      `a4626f70677265636f72647365616674657200656c696d697419010066617574686f727834${authorHex}`,
    )
    expect(hex(encodeRequest({ op: 'heads', authors: [zeroSeedAuthor] }))).toBe(
      `a2626f7065686561647367617574686f7273817834${authorHex}`,
    )
    expect(hex(encodeHeader({ ok: true, highest: 3, count: 2 }))).toBe(
      'a3626f6bf565636f756e7402676869676865737403',
    )
    expect(hex(encodeHeader({ ok: true, highest: 3, count: 0 }))).toBe(
      'a3626f6bf565636f756e7400676869676865737403',
    )
    expect(hex(encodeHeader({ ok: true, heads: [3] }))).toBe('a2626f6bf56568656164738103')
    expect(hex(encodeHeader({ ok: false, error: 'rate-limited', message: 'too many sync requests' }))).toBe(
      'a3626f6bf4656572726f726c726174652d6c696d69746564676d65737361676576746f6f206d616e792073796e63207265717565737473',
    )
  })
})

describe('sync exchange', () => {
  it('serves records in order, in pages, and caps a huge limit', async () => {
    await serveReal()
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 1e12 })
    expect(answer.fault).toBeUndefined()
    expect(answer.highest).toBe(300)
    // The second page starts at the first one's last seq again (see the collision test below).
    expect(answer.pages).toEqual([SYNC_PAGE_RECORDS, 300 - SYNC_PAGE_RECORDS + 1])
    expect(answer.records.map((r) => r.body.seq)).toEqual([
      ...Array.from({ length: SYNC_PAGE_RECORDS }, (_, i) => i + 1),
      ...Array.from({ length: 300 - SYNC_PAGE_RECORDS + 1 }, (_, i) => i + SYNC_PAGE_RECORDS),
    ])
    // The server caps too, whatever limit a client writes on the wire.
    const many = new MemoryRecords()
    many.ingest(Array.from({ length: SYNC_MAX_RECORDS + 300 }, (_, i) => post(other, i + 1)))
    await serveReal(generous(100_000), many)
    const capped = await requestRecords(await open(), { author: other.author, after: 0, limit: 1e12 })
    expect(capped.records).toHaveLength(SYNC_MAX_RECORDS)
    const header = await rawRequest(
      encodeRequest({ op: 'records', author: other.author, after: 0, limit: 2 ** 50 }),
    )
    expect(header).toEqual({ ok: true, highest: SYNC_MAX_RECORDS + 300, count: SYNC_PAGE_RECORDS })
  })

  it('sends both records of a collision that a page boundary splits', async () => {
    const forked = new MemoryRecords()
    const posts = Array.from({ length: 300 }, (_, i) => post(other, i + 1))
    // A second record at the seq where the first page ends, ordered after its partner.
    const partners = [post(other, SYNC_PAGE_RECORDS, 'a'), post(other, SYNC_PAGE_RECORDS, 'b')]
    forked.ingest([...posts.filter((p) => p.body.seq !== SYNC_PAGE_RECORDS), ...partners])
    await serveReal(generous(), forked)
    const answer = await requestRecords(await open(), { author: other.author, after: 0, limit: 1000 })
    const ids = new Set(answer.records.map((r) => r.id))
    expect(ids.size).toBe(301)
    for (const partner of partners) expect(ids).toContain(partner.id)
  })

  it('answers a small limit with one page and stops there', async () => {
    await serveReal()
    const answer = await requestRecords(await open(), { author: author.author, after: 290, limit: 5 })
    expect(answer.pages).toEqual([5])
    expect(answer.records.map((r) => r.body.seq)).toEqual([291, 292, 293, 294, 295])
  })

  it('caps each page in bytes and goes on with the next', async () => {
    const big = new MemoryRecords()
    const text = '🦊'.repeat(1000) // 4000 bytes of text, the most a post may hold
    big.ingest(Array.from({ length: 300 }, (_, i) => post(other, i + 1, text)))
    await serveReal(generous(), big)
    const answer = await requestRecords(await open(), { author: other.author, after: 0, limit: 1000 })
    const first = answer.records.slice(0, answer.pages[0])
    expect(first.reduce((sum, r) => sum + r.bytes.byteLength, 0)).toBeLessThanOrEqual(SYNC_PAGE_BYTES)
    expect(answer.pages[0]).toBeGreaterThan(200)
    expect(answer.pages[0]).toBeLessThan(SYNC_PAGE_RECORDS)
    expect(new Set(answer.records.map((r) => r.body.seq)).size).toBe(300)
    expect(answer.fault).toBeUndefined()
  })

  it('answers heads', async () => {
    await serveReal()
    const heads = await requestHeads(await open(), [author.author, other.author])
    expect(heads).toEqual([300, 0])
  })

  it('refuses invalid requests', async () => {
    await serveReal()
    expect(await rawRequest(new Uint8Array([1, 2, 3]))).toMatchObject({ ok: false, error: 'bad-request' })
    expect(
      await rawRequest(dagCbor.encode({ op: 'records', author: 'x', after: 0, limit: 1 })),
    ).toMatchObject({
      ok: false,
      error: 'bad-request',
    })
    const tooMany = Array.from({ length: 200 }, () => author.author)
    expect(await rawRequest(dagCbor.encode({ op: 'heads', authors: tooMany }))).toMatchObject({
      ok: false,
      error: 'bad-request',
    })
  })

  it('limits requests and records per peer', async () => {
    await serveReal({ requests: new TokenBucket(2, 0), records: new TokenBucket(10, 0) })
    const first = await requestRecords(await open(), { author: author.author, after: 0, limit: 100 })
    expect(first.records).toHaveLength(10) // only the records allowance
    await expect(
      requestRecords(await open(), { author: author.author, after: 10, limit: 5 }),
    ).rejects.toThrow(SyncRefusedError)
    await expect(requestHeads(await open(), [author.author])).rejects.toMatchObject({
      reason: 'rate-limited',
    })
  })

  it('keeps the good records of a garbage answer and stops at the garbage', async () => {
    await serveWith((stream) => {
      send(
        stream,
        encodeHeader({ ok: true, highest: 3, count: 3 }),
        post(author, 1).bytes,
        new Uint8Array([0xa1, 1]),
      )
      void stream.close()
    })
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 })
    expect(answer.records.map((r) => r.body.seq)).toEqual([1])
    expect(answer.fault).toMatchObject({ name: 'SyncProtocolError', code: 'bad-record' })
  })

  it('refuses records that were not asked for', async () => {
    await serveWith((stream) => {
      send(stream, encodeHeader({ ok: true, highest: 3, count: 2 }), post(other, 1).bytes)
      void stream.close()
    })
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 })
    expect(answer.records).toEqual([])
    expect(answer.fault?.code).toBe('bad-record')
  })

  it('refuses an answer that announces more than was asked', async () => {
    await serveWith((stream) => {
      send(stream, encodeHeader({ ok: true, highest: 1e9, count: 1e9 }))
      void stream.close()
    })
    await expect(
      requestRecords(await open(), { author: author.author, after: 0, limit: 10 }),
    ).rejects.toMatchObject({
      code: 'too-many',
    })
  })

  it('holds later pages to what is left of the limit, and ends the answer at an empty page', async () => {
    const page = (seq: number, count: number) => [
      encodeHeader({ ok: true, highest: 9, count }),
      ...Array.from({ length: count }, (_, i) => post(author, seq + i).bytes),
    ]
    const answerWith = async (...frames: Uint8Array[]) => {
      await serveWith((stream) => {
        send(stream, ...frames)
        void stream.close()
      })
      return requestRecords(await open(), { author: author.author, after: 0, limit: 5 })
    }
    await expect(answerWith(...page(1, 3), ...page(4, 3))).rejects.toMatchObject({ code: 'too-many' })
    const refusal = encodeHeader({ ok: false, error: 'rate-limited' })
    await expect(answerWith(...page(1, 3), refusal)).rejects.toMatchObject({ code: 'bad-frame' })
    // The empty page ends the answer: what follows it is not read.
    expect((await answerWith(...page(1, 3), ...page(4, 0), ...page(4, 2))).pages).toEqual([3])
    expect((await answerWith(...page(1, 3), ...page(4, 2), ...page(6, 0))).pages).toEqual([3, 2])
  })

  it('gives each page the whole deadline, and cuts off a page that stalls', async () => {
    // Four pages 150 ms apart: 600 ms in all, each well within the 500 ms deadline.
    const gap = () => new Promise((resolve) => setTimeout(resolve, 150))
    await serveWith(async (stream) => {
      for (let seq = 1; seq <= 4; seq++) {
        send(stream, encodeHeader({ ok: true, highest: 9, count: 1 }), post(author, seq).bytes)
        await gap()
      }
      // Announces a fifth page, then never sends it nor closes.
      send(stream, encodeHeader({ ok: true, highest: 9, count: 1 }))
    })
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 }, 500)
    expect(answer.records.map((r) => r.body.seq)).toEqual([1, 2, 3, 4])
    expect(answer.fault?.code).toBe('timeout')
  })

  it('keeps the records before a frame that never ends, and refuses an endless length', async () => {
    await serveWith((stream) => {
      send(stream, encodeHeader({ ok: true, highest: 3, count: 2 }), post(author, 1).bytes)
      // A length prefix of 100 bytes, then three of them.
      stream.send(Uint8Array.of(100, 1, 2, 3))
      void stream.close()
    })
    const cut = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 }, 300)
    expect(cut.records.map((r) => r.body.seq)).toEqual([1])
    expect(cut.fault?.code).toBe('timeout')
    await serveWith((stream) => {
      send(stream, encodeHeader({ ok: true, highest: 3, count: 2 }))
      stream.send(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
      void stream.close()
    })
    const endless = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 })
    expect(endless.fault?.code).toBe('too-large')
  })

  it('cuts off an oversized frame', async () => {
    await serveWith((stream) => {
      send(stream, encodeHeader({ ok: true, highest: 2, count: 2 }), new Uint8Array(20_000))
      void stream.close()
    })
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 })
    expect(answer.fault?.code).toBe('too-large')
  })

  it('cuts off a stalled answer at the deadline', async () => {
    await serveWith((stream) => {
      // Announces records, then never sends them nor closes.
      send(stream, encodeHeader({ ok: true, highest: 5, count: 5 }))
    })
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 }, 300)
    expect(answer.fault?.code).toBe('timeout')
    await serveWith(() => {
      // Says nothing at all.
    })
    await expect(requestHeads(await open(), [author.author], 300)).rejects.toMatchObject({ code: 'timeout' })
  })
})

describe('TokenBucket', () => {
  it('refills over time up to its capacity', () => {
    let now = 0
    const bucket = new TokenBucket(10, 2, () => now)
    expect(bucket.takeUpTo(25)).toBe(10)
    expect(bucket.take()).toBe(false)
    now = 1500
    expect(bucket.available()).toBe(3)
    expect(bucket.take(3)).toBe(true)
    now = 100_000
    expect(bucket.available()).toBe(10)
  })
})
