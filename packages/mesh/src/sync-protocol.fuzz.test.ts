import { createSigner, type Signer, signRecord } from '@capsule/core'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream, StreamHandler } from '@libp2p/interface'
import fc from 'fast-check'
import * as lp from 'it-length-prefixed'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SyncProtocolError } from './errors.js'
import { MemoryRecords } from './memory-records.js'
import {
  decodeHeader,
  decodeRequest,
  encodeHeader,
  type PeerAllowance,
  requestHeads,
  SyncRefusedError,
  serveSync,
} from './sync-protocol.js'
import { requestRecords, type SyncTestPair, startSyncTestPair } from './sync-test-pair.js'
import { TokenBucket } from './token-bucket.js'

// Fuzzing the sync protocol from the outside: the decoders on arbitrary input, and the real
// serveSync / requestRecords over loopback libp2p against a neighbour that writes arbitrary frames.
let pair: SyncTestPair
let author: Signer
const store = new MemoryRecords()

function generous(): PeerAllowance {
  return { requests: new TokenBucket(10_000, 10_000), records: new TokenBucket(1e6, 1e6) }
}

function serveWith(handler: StreamHandler): Promise<void> {
  return pair.serveWith(handler)
}

function open(): Promise<Stream> {
  return pair.open()
}

/** An unsigned varint, as it-length-prefixed writes it. */
function varint(value: number): Uint8Array {
  const bytes: number[] = []
  let rest = value
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return Uint8Array.from(bytes)
}

/** Reads the first frame of the answer, or undefined when the stream ends without one. */
async function firstFrame(stream: Stream): Promise<Uint8Array | undefined> {
  for await (const frame of lp.decode(stream)) return frame.subarray()
  return undefined
}

// Values a hostile peer might encode: near-misses of real messages and arbitrary DAG-CBOR.
const cborValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.constantFrom(0, -1, 2 ** 53, 2 ** 64 - 1, Number.MAX_SAFE_INTEGER),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.string(),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(
      fc.constantFrom(
        'op',
        'author',
        'authors',
        'after',
        'limit',
        'ok',
        'error',
        'heads',
        'highest',
        'count',
        'message',
        'x',
      ),
      tie('value'),
      { maxKeys: 6 },
    ),
  ),
})).value

const requestLike = fc.record(
  {
    op: fc.constantFrom('heads', 'records', 'other'),
    author: fc.oneof(fc.string(), fc.constant('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')),
    authors: fc.array(fc.string(), { maxLength: 200 }),
    after: fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 60)),
    limit: fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 60)),
  },
  { requiredKeys: ['op'] },
)

function onlySyncErrors(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): void {
  try {
    decode(bytes)
  } catch (error) {
    expect(error).toBeInstanceOf(SyncProtocolError)
  }
}

beforeAll(async () => {
  pair = await startSyncTestPair()
  author = createSigner(await generateKeyPair('Ed25519'))
  store.ingest(
    Array.from({ length: 20 }, (_, i) =>
      signRecord({ kind: 'post', text: `p${i + 1}` }, author, { seq: i + 1, ts: Date.now() }),
    ),
  )
})

afterAll(async () => {
  await pair?.stop()
})

describe('sync decoders on arbitrary input', () => {
  it('decodeRequest and decodeHeader throw nothing but SyncProtocolError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        onlySyncErrors(decodeRequest, bytes)
        onlySyncErrors(decodeHeader, bytes)
      }),
      { numRuns: 2000 },
    )
  })

  it('on arbitrary DAG-CBOR values and near-miss requests, only SyncProtocolError or a well-formed result', () => {
    fc.assert(
      fc.property(fc.oneof(cborValue, requestLike), (value) => {
        let bytes: Uint8Array
        try {
          bytes = dagCbor.encode(value)
        } catch {
          return // not encodable (e.g. undefined inside): nothing a peer could send
        }
        for (const decode of [decodeRequest, decodeHeader]) {
          try {
            const parsed = decode(bytes) as Record<string, unknown>
            // Whatever passes is exactly what the types say.
            expect(typeof parsed).toBe('object')
            if ('limit' in parsed) expect(Number.isSafeInteger(parsed.limit)).toBe(true)
            if ('after' in parsed) expect(Number.isSafeInteger(parsed.after)).toBe(true)
          } catch (error) {
            expect(error).toBeInstanceOf(SyncProtocolError)
          }
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('serveSync against arbitrary requests', () => {
  it('answers arbitrary frames with a refusal or a real answer, and keeps serving', async () => {
    await serveWith((stream) => {
      void serveSync(stream, { records: store, allowance: generous() }).catch(() => undefined)
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), cborValue.map(safeEncode)), {
          minLength: 1,
          maxLength: 3,
        }),
        async (frames) => {
          const stream = await open()
          for (const frame of frames) stream.send(lp.encode.single(frame))
          await stream.close()
          const answer = await firstFrame(stream)
          if (answer !== undefined) {
            const header = decodeHeader(answer)
            if (!header.ok) expect(header.error).toBe('bad-request')
          }
        },
      ),
      { numRuns: 60 },
    )
    // Still serving honest requests.
    const answer = await requestRecords(await open(), { author: author.author, after: 0, limit: 5 })
    expect(answer.records.map((r) => r.body.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('refuses a length prefix of 2^31 without waiting for (or allocating) the bytes', async () => {
    await serveWith((stream) => {
      void serveSync(stream, { records: store, allowance: generous() }).catch(() => undefined)
    })
    const before = process.memoryUsage().arrayBuffers
    for (const length of [2 ** 31, 2 ** 53 - 1, 8193]) {
      const stream = await open()
      // The prefix alone, then a few bytes: a server that trusted it would wait for 2 GiB.
      stream.send(varint(length))
      stream.send(new Uint8Array(16))
      const header = decodeHeader((await firstFrame(stream))!)
      expect(header).toMatchObject({ ok: false, error: 'bad-request' })
    }
    // An over-long varint (more than 8 bytes of prefix) is refused too.
    const stream = await open()
    stream.send(new Uint8Array(12).fill(0xff))
    expect(decodeHeader((await firstFrame(stream))!)).toMatchObject({ ok: false, error: 'bad-request' })
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024)
  })
})

describe('requestRecords against arbitrary answers', () => {
  it('returns verified records and a typed fault, or throws a typed error, whatever the peer sends', async () => {
    let frames: Uint8Array[] = []
    await serveWith((stream) => {
      for (const frame of frames) stream.send(lp.encode.single(frame))
      void stream.close().catch(() => undefined)
    })
    const good = store.recordsAfter(author.author, 0, 3)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .record({ ok: fc.constant(true), highest: fc.nat(), count: fc.nat({ max: 300 }) })
            .map(encodeHeader),
          fc.uint8Array({ maxLength: 64 }),
          cborValue.map(safeEncode),
        ),
        fc.array(fc.oneof(fc.constantFrom(...good), fc.uint8Array({ maxLength: 200 })), { maxLength: 6 }),
        async (header, rest) => {
          frames = [header, ...rest]
          try {
            const answer = await requestRecords(
              await open(),
              { author: author.author, after: 0, limit: 10 },
              // A short answer from a peer that closed is cut off at the deadline: keep it short here.
              300,
            )
            for (const record of answer.records) expect(record.body.author).toBe(author.author)
            if (answer.fault) expect(answer.fault).toBeInstanceOf(SyncProtocolError)
          } catch (error) {
            expect([SyncProtocolError, SyncRefusedError].some((type) => error instanceof type)).toBe(true)
          }
        },
      ),
      { numRuns: 40 },
    )
  }, 60_000)

  it('cuts off an answer whose header or record announces 2^31 bytes', async () => {
    const shapes: Uint8Array[][] = [
      [varint(2 ** 31), new Uint8Array(16)],
      [lp.encode.single(encodeHeader({ ok: true, highest: 9, count: 2 })).subarray(), varint(2 ** 31)],
    ]
    for (const shape of shapes) {
      await serveWith((stream) => {
        for (const bytes of shape) stream.send(bytes)
        // Never closes: only the length check can end this quickly.
      })
      const started = Date.now()
      const outcome = await requestRecords(await open(), { author: author.author, after: 0, limit: 10 }).then(
        (answer) => answer.fault,
        (error: unknown) => error,
      )
      expect(outcome).toMatchObject({ name: 'SyncProtocolError', code: 'too-large' })
      expect(Date.now() - started).toBeLessThan(2000)
    }
    await expect(
      (async () => {
        await serveWith((stream) => void stream.send(varint(2 ** 31)))
        return requestHeads(await open(), [author.author])
      })(),
    ).rejects.toMatchObject({ code: 'too-large' })
  })
})

function safeEncode(value: unknown): Uint8Array {
  try {
    return dagCbor.encode(value)
  } catch {
    return new Uint8Array([0xf7])
  }
}
