// Property tests (fast-check) for the one gate, decodeRecord: what signRecord makes decodes back to
// the draft; any single flipped bit is refused; any other input only ever throws InvalidRecordError.
// numRuns are sized so this file runs in a few seconds on two cores.
import { readdirSync, readFileSync } from 'node:fs'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import {
  createSigner,
  decodeRecord,
  InvalidRecordError,
  type InvalidRecordReason,
  MAX_BIO_CHARS,
  MAX_CLOCK_SKEW_MS,
  MAX_NAME_CHARS,
  MAX_RECORD_BYTES,
  MAX_SEQ,
  MAX_SITE_URL_CHARS,
  MAX_TEXT_CHARS,
  type PostBody,
  type RecordDraft,
  recordCidBytes,
  recordId,
  SIGNING_DOMAIN,
  type Signer,
  signRecord,
  type VerifiedRecord,
} from './index.js'

const signerFrom = async (label: string) =>
  createSigner(await generateKeyPairFromSeed('Ed25519', new TextEncoder().encode(label.padEnd(32, '.'))))
const alice = await signerFrom('alice')
const bob = await signerFrom('bob')

/** The reason decodeRecord gives, or 'valid'; any error other than InvalidRecordError escapes and fails the test. */
function verdict(bytes: Uint8Array, now?: number): InvalidRecordReason | 'valid' {
  try {
    decodeRecord(bytes, now === undefined ? {} : { now })
    return 'valid'
  } catch (error) {
    if (error instanceof InvalidRecordError) return error.reason
    throw error
  }
}

/** Signs any payload map like signRecord does, but without its checks. */
function signPayload(signer: Signer, fields: unknown): Uint8Array {
  const payload = dagCbor.encode(fields)
  return dagCbor.encode({ payload, sig: signer.sign(new Uint8Array([...SIGNING_DOMAIN, ...payload])) })
}

const codePoints = (text: string) => [...text].length

// --- arbitraries ----------------------------------------------------------------------------------

/** Post text within the bounds: any code points (astral included), or grapheme clusters, not all whitespace. */
const textArb = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: MAX_TEXT_CHARS }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: MAX_TEXT_CHARS }),
  )
  .filter((text) => text.trim() !== '' && codePoints(text) <= MAX_TEXT_CHARS)

const boundedArb = (max: number) =>
  fc.string({ unit: 'binary', maxLength: max }).filter((text) => codePoints(text) <= max)

const idArb = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((hash) => CID.createV1(dagCbor.code, Digest.create(0x12, hash)).toString())

const siteArb = fc
  .webUrl({ withQueryParameters: true, withFragments: true })
  .filter((url) => url.length <= MAX_SITE_URL_CHARS && URL.canParse(url))

const headerArb = fc.record({
  seq: fc.integer({ min: 1, max: MAX_SEQ }),
  ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
})

/** Bob's post for a reshare; signed inside the property, so made from its text. */
const originalFor = (text: string, ts: number): VerifiedRecord<PostBody> =>
  signRecord({ kind: 'post', text }, bob, { seq: 1, ts }) as VerifiedRecord<PostBody>

/** A draft, made from the timestamp so that a reshare's original is not dated after the reshare. */
type MakeDraft = (ts: number) => RecordDraft

const draftArb = fc.oneof(
  textArb.map(
    (text): MakeDraft =>
      () => ({ kind: 'post', text }),
  ),
  textArb.map(
    (text): MakeDraft =>
      (ts) => ({ kind: 'reshare', original: originalFor(text, ts) }),
  ),
  idArb.map(
    (target): MakeDraft =>
      () => ({ kind: 'delete', target }),
  ),
  fc
    .record({ name: boundedArb(MAX_NAME_CHARS), bio: boundedArb(MAX_BIO_CHARS), site: fc.option(siteArb) })
    .map(
      ({ name, bio, site }): MakeDraft =>
        () =>
          site === null ? { kind: 'profile', name, bio } : { kind: 'profile', name, bio, site },
    ),
)

/** What decoding must give back for a draft; bytes as plain Uint8Array (encoders may hand out Buffers). */
function expectedBody(draft: RecordDraft, seq: number, ts: number): Record<string, unknown> {
  const header = { v: 1, author: alice.author, seq, ts }
  if (draft.kind !== 'reshare') return { ...header, ...draft }
  const { original } = draft
  return {
    ...header,
    kind: 'reshare',
    of: original.id,
    original: { ...original, bytes: new Uint8Array(original.bytes) },
  }
}

const plain = (record: VerifiedRecord): unknown =>
  record.body.kind === 'reshare'
    ? {
        ...record.body,
        original: { ...record.body.original, bytes: new Uint8Array(record.body.original.bytes) },
      }
    : record.body

const signedArb = fc.tuple(draftArb, headerArb).map(([makeDraft, { seq, ts }]) => {
  const draft = makeDraft(ts)
  return { draft, seq, ts, record: signRecord(draft, alice, { seq, ts }) }
})

// --- properties -----------------------------------------------------------------------------------

describe('round trip', () => {
  it('decodes every signed valid draft back to its fields, id and bytes; signing is deterministic', () => {
    fc.assert(
      fc.property(signedArb, ({ draft, seq, ts, record }) => {
        const decoded = decodeRecord(record.bytes, { now: ts })
        expect(plain(decoded)).toEqual(expectedBody(draft, seq, ts))
        expect(decoded.id).toBe(recordId(record.bytes))
        // recordId writes the CID's bytes itself; the multiformats CID must agree.
        expect(decoded.id).toBe(CID.decode(recordCidBytes(record.bytes)).toString())
        expect(Buffer.compare(decoded.bytes, record.bytes)).toBe(0)
        expect(Buffer.compare(signRecord(draft, alice, { seq, ts }).bytes, record.bytes)).toBe(0)
      }),
      { numRuns: 150 },
    )
  })
})

describe('single bit flips', () => {
  it('make every signed record invalid, always with InvalidRecordError', () => {
    fc.assert(
      fc.property(signedArb, fc.nat(), ({ record, ts }, n) => {
        const flipped = new Uint8Array(record.bytes)
        const bit = n % (flipped.length * 8)
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        expect(verdict(flipped, ts)).not.toBe('valid')
      }),
      { numRuns: 300 },
    )
  })

  it('of every committed valid vector, every bit, are refused', () => {
    const dir = new URL('../test-vectors/', import.meta.url)
    const vectors = readdirSync(dir)
      .filter((file) => file.endsWith('.json') && file !== 'invalid.json')
      .map((file) => JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { record: string; now: number })
    let flips = 0
    for (const { record, now } of vectors) {
      const bytes = new Uint8Array(Buffer.from(record, 'hex'))
      expect(verdict(bytes, now)).toBe('valid')
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        bytes[bit >> 3]! ^= 1 << (bit & 7)
        const got = verdict(bytes, now)
        bytes[bit >> 3]! ^= 1 << (bit & 7)
        if (got === 'valid') throw new Error(`flipping bit ${bit} of a vector left it valid`)
        flips++
      }
    }
    expect(flips).toBeGreaterThan(5000)
  })
})

/** Any value DAG-CBOR can encode, with map keys that a record uses (and a few that could trip JavaScript). */
const cborArb = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.uint8Array({ maxLength: 80 }),
    idArb.map((id) => CID.parse(id)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(
          ...['v', 'kind', 'author', 'seq', 'ts', 'text', 'of', 'original', 'target', 'name', 'bio', 'site'],
          ...['payload', 'sig', '__proto__', 'toString', 'valueOf', 'constructor'],
        ),
      ),
      tie('value'),
      { maxKeys: 6 },
    ),
  ),
}))

function encodable(value: unknown): Uint8Array | undefined {
  try {
    return dagCbor.encode(value)
  } catch {
    return undefined
  }
}

describe('arbitrary input', () => {
  it('arbitrary bytes only ever throw InvalidRecordError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(verdict(bytes)).not.toBe('valid')
      }),
      { numRuns: 1000 },
    )
  })

  it('arbitrary DAG-CBOR values only ever throw InvalidRecordError', () => {
    fc.assert(
      fc.property(cborArb.value, (value) => {
        const bytes = encodable(value)
        fc.pre(bytes !== undefined)
        expect(verdict(bytes)).not.toBe('valid')
      }),
      { numRuns: 1000 },
    )
  })

  it('correctly signed payloads with arbitrary fields are refused with InvalidRecordError or decode consistently', () => {
    const bobPost = signRecord({ kind: 'post', text: 'embedded' }, bob, { seq: 1, ts: 1000 })
    const fieldArb = fc.dictionary(
      fc.constantFrom(
        'v',
        'kind',
        'author',
        'seq',
        'ts',
        'text',
        'of',
        'original',
        'target',
        'name',
        'bio',
        'site',
        'x',
      ),
      fc.oneof(cborArb.value, fc.constant(bobPost.bytes), fc.constant(CID.parse(bobPost.id)), fc.constant(1)),
      { maxKeys: 3 },
    )
    const payloadArb = fc.record({
      base: fc.record({
        v: fc.constant(1),
        kind: fc.constantFrom('post', 'reshare', 'delete', 'profile', 'like'),
        author: fc.constant(alice.author),
        seq: fc.constant(1),
        ts: fc.constant(1000),
        text: fc.constant('hello'),
      }),
      fields: fieldArb,
    })
    fc.assert(
      fc.property(payloadArb, ({ base, fields }) => {
        const payload = { ...base, ...fields }
        fc.pre(encodable(payload) !== undefined)
        const bytes = signPayload(alice, payload)
        if (verdict(bytes, 1000) === 'valid')
          expect(decodeRecord(bytes, { now: 1000 }).id).toBe(recordId(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('names a bad version or kind without calling a "toString" found in the record', () => {
    expect(verdict(signPayload(alice, { v: { toString: 0 } }))).toBe('bad-version')
    const header = { v: 1, author: alice.author, seq: 1, ts: 1000 }
    expect(verdict(signPayload(alice, { ...header, kind: { toString: 0, valueOf: 0 } }), 1000)).toBe(
      'unknown-kind',
    )
  })
})

describe('the outer map, read directly when canonical', () => {
  /** A record's outer map with the payload's length written in `lengthBytes` bytes (0: in the head). */
  function outerWith(payload: Uint8Array, sig: Uint8Array, lengthBytes: 0 | 1 | 2 | 4): Uint8Array {
    const head =
      lengthBytes === 0
        ? [0x40 + payload.length]
        : [
            0x57 + Math.log2(lengthBytes) + 1,
            ...Array.from(
              { length: lengthBytes },
              (_, i) => (payload.length >> (8 * (lengthBytes - 1 - i))) & 0xff,
            ),
          ]
    return Uint8Array.from([
      0xa2,
      0x63,
      ...new TextEncoder().encode('sig'),
      0x58,
      0x40,
      ...sig,
      0x67,
      ...new TextEncoder().encode('payload'),
      ...head,
      ...payload,
    ])
  }

  it('accepts the payload length in its shortest form across every boundary, and refuses any longer form', () => {
    // Payload lengths around the 24- and 256-byte boundaries of the length's encoding.
    for (const textLength of [1, 60, 150, 180, 190, 200, 400]) {
      const record = signRecord({ kind: 'post', text: 'x'.repeat(textLength) }, alice, { seq: 1, ts: 1 })
      const { payload, sig } = dagCbor.decode(record.bytes) as { payload: Uint8Array; sig: Uint8Array }
      const shortest = payload.length < 24 ? 0 : payload.length < 256 ? 1 : 2
      expect(outerWith(payload, sig, shortest)).toEqual(Uint8Array.from(record.bytes))
      expect(verdict(record.bytes)).toBe('valid')
      // The strict decoder refuses a length longer than it needs to be.
      for (const longer of [1, 2, 4] as const)
        if (longer > shortest) expect(verdict(outerWith(payload, sig, longer))).toBe('malformed')
      expect(verdict(Uint8Array.of(...record.bytes, 0))).toBe('malformed')
      expect(verdict(record.bytes.subarray(0, -1))).toBe('malformed')
    }
  })
})

describe('bounds', () => {
  it(`post text of exactly ${MAX_TEXT_CHARS} code points passes, one more fails with text-too-long`, () => {
    const charArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c.trim() !== '')
    fc.assert(
      fc.property(charArb, (c) => {
        expect(
          signRecord({ kind: 'post', text: c.repeat(MAX_TEXT_CHARS) }, alice, { seq: 1, ts: 0 }).body.kind,
        ).toBe('post')
        expect(
          verdict(
            signPayload(alice, {
              v: 1,
              kind: 'post',
              author: alice.author,
              seq: 1,
              ts: 0,
              text: c.repeat(MAX_TEXT_CHARS + 1),
            }),
            0,
          ),
        ).toBe('text-too-long')
        expect(() =>
          signRecord({ kind: 'post', text: c.repeat(MAX_TEXT_CHARS + 1) }, alice, { seq: 1, ts: 0 }),
        ).toThrow(expect.objectContaining({ name: 'InvalidRecordError', reason: 'text-too-long' }))
      }),
      { numRuns: 40 },
    )
  })

  it('profile name, bio and site pass at their limits and fail one over', () => {
    const profile = (name: string, bio: string, site?: string) =>
      signPayload(alice, {
        v: 1,
        kind: 'profile',
        author: alice.author,
        seq: 1,
        ts: 0,
        name,
        bio,
        ...(site === undefined ? {} : { site }),
      })
    const siteOf = (length: number) => `https://a.example/${'p'.repeat(length - 'https://a.example/'.length)}`
    expect(
      verdict(profile('🦊'.repeat(MAX_NAME_CHARS), 'é'.repeat(MAX_BIO_CHARS), siteOf(MAX_SITE_URL_CHARS)), 0),
    ).toBe('valid')
    expect(verdict(profile('🦊'.repeat(MAX_NAME_CHARS + 1), ''), 0)).toBe('text-too-long')
    expect(verdict(profile('', 'é'.repeat(MAX_BIO_CHARS + 1)), 0)).toBe('text-too-long')
    expect(verdict(profile('', '', siteOf(MAX_SITE_URL_CHARS + 1)), 0)).toBe('text-too-long')
  })

  it('a timestamp may be up to the allowed skew ahead of the receiver, not one ms more', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 }), (now) => {
        const at = (ts: number) => signRecord({ kind: 'post', text: 'x' }, alice, { seq: 1, ts }).bytes
        expect(verdict(at(now + MAX_CLOCK_SKEW_MS), now)).toBe('valid')
        expect(verdict(at(now + MAX_CLOCK_SKEW_MS + 1), now)).toBe('future-timestamp')
      }),
      { numRuns: 50 },
    )
  })

  it(`refuses input over ${MAX_RECORD_BYTES} bytes as too-large before decoding it`, () => {
    // Bytes that are not CBOR at all: too-large, not malformed, so the size check came first.
    fc.assert(
      fc.property(
        fc.integer({ min: MAX_RECORD_BYTES + 1, max: 4 * MAX_RECORD_BYTES }),
        fc.integer({ min: 0, max: 255 }),
        (length, fill) => {
          expect(verdict(new Uint8Array(length).fill(fill))).toBe('too-large')
        },
      ),
      { numRuns: 50 },
    )
    // Cheap: the cost does not grow with the input (a thousand 1 MiB inputs in far less than a second).
    const huge = new Uint8Array(1 << 20)
    const start = performance.now()
    for (let i = 0; i < 1000; i++) expect(verdict(huge)).toBe('too-large')
    expect(performance.now() - start).toBeLessThan(1000)
  })
})

describe('signRecord', () => {
  it('refuses text with a lone surrogate instead of signing something else', async () => {
    const signer = createSigner(await generateKeyPair('Ed25519'))
    expect(() => signRecord({ kind: 'post', text: 'a\ud800' }, signer, { seq: 1, ts: 1 })).toThrowError(
      expect.objectContaining({ name: 'InvalidRecordError', reason: 'bad-field' }),
    )
  })

  it('signs text that begins with U+FEFF (a byte order mark) and decodes it back whole', () => {
    // Pasted from a file saved with a byte order mark; the decoder once dropped it and refused the
    // record as non-canonical. Its own post, a profile, and a reshare embedding the post.
    const post = signRecord({ kind: 'post', text: '\u{feff}hello' }, bob, { seq: 1, ts: 1 })
    const profile = signRecord({ kind: 'profile', name: '\u{feff}Bob', bio: '' }, bob, { seq: 2, ts: 1 })
    const reshare = signRecord({ kind: 'reshare', original: post as VerifiedRecord<PostBody> }, alice, {
      seq: 1,
      ts: 2,
    })
    expect(decodeRecord(post.bytes, { now: 1 }).body).toMatchObject({ text: '\u{feff}hello' })
    expect(decodeRecord(profile.bytes, { now: 1 }).body).toMatchObject({ name: '\u{feff}Bob' })
    expect(decodeRecord(reshare.bytes, { now: 2 }).body).toMatchObject({
      original: { body: { text: '\u{feff}hello' } },
    })
  })
})
