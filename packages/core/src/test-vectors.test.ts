// Checks the committed test vectors against decodeRecord, and checks everything decodeRecord relies
// on a second way: signatures with tweetnacl and with node:crypto (JWK keys, not core's DER path),
// keys and peer ids from the seeds, the outer encoding byte by byte, and the id from sha256 by hand.
import { execFileSync } from 'node:child_process'
import { createHash, createPublicKey, verify } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { base58btc } from 'multiformats/bases/base58'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import {
  decodeRecord,
  ed25519Verify,
  InvalidRecordError,
  type InvalidRecordReason,
  type RecordBody,
  type VerifiedRecord,
} from './index.js'

interface RecordVector {
  seedLabel: string
  seed: string
  publicKey: string
  author: string
  record: string
  payload: string
  sig: string
  id: string
  fields: Record<string, unknown> & { original?: RecordVector }
}

interface ValidVector extends RecordVector {
  description: string
  valid: true
  now: number
}

interface InvalidVectors {
  signers: { seedLabel: string; seed: string; publicKey: string; author: string }[]
  cases: { name: string; description: string; now: number; record: string; reason: InvalidRecordReason }[]
}

const dir = new URL('../test-vectors/', import.meta.url)
const readJson = (file: string): unknown => JSON.parse(readFileSync(new URL(file, dir), 'utf8'))
const validFiles = readdirSync(dir)
  .filter((file) => file.endsWith('.json') && file !== 'invalid.json')
  .sort()
const valid = validFiles.map((file) => [file, readJson(file) as ValidVector] as const)
const invalid = readJson('invalid.json') as InvalidVectors

const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'))
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts))
const ascii = (text: string) => new Uint8Array(Buffer.from(text, 'ascii'))

/** RFC 4648 base32, lower case, no padding: the "b" multibase. Written out so core's library is not the judge. */
function base32(data: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of data) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(buffer >> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31]
  return out
}

/** CIDv1 (0x01), dag-cbor codec (0x71), sha2-256 multihash (0x12, 32 bytes), base32 with prefix "b". */
function expectedId(record: Uint8Array): string {
  const digest = createHash('sha256').update(record).digest()
  return `b${base32(concat(Uint8Array.of(0x01, 0x71, 0x12, 0x20), digest))}`
}

/** An Ed25519 peer id: identity multihash of the protobuf PublicKey {Type: Ed25519, Data: key}, base58btc. */
function expectedPeerId(publicKey: Uint8Array): string {
  return base58btc.baseEncode(concat(Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20), publicKey))
}

/** The outer map as canonical DAG-CBOR writes it: {"sig": 64 bytes, "payload": bytes}, shorter key first. */
function expectedOuter(payload: Uint8Array, sig: Uint8Array): Uint8Array {
  const length =
    payload.length < 24
      ? Uint8Array.of(0x40 + payload.length)
      : payload.length < 256
        ? Uint8Array.of(0x58, payload.length)
        : Uint8Array.of(0x59, payload.length >> 8, payload.length & 0xff)
  return concat(
    Uint8Array.of(0xa2, 0x63),
    ascii('sig'),
    Uint8Array.of(0x58, 0x40),
    sig,
    Uint8Array.of(0x67),
    ascii('payload'),
    length,
    payload,
  )
}

const SIGNING_INPUT_PREFIX = ascii('capsule-record-v1:')

function nodeVerify(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  })
  return verify(null, message, key, sig)
}

/** Checks one vector's bytes, keys, signature and id without decodeRecord. */
function checkIndependently(vector: RecordVector): void {
  const seed = bytes(vector.seed)
  const publicKey = bytes(vector.publicKey)
  const payload = bytes(vector.payload)
  const sig = bytes(vector.sig)
  const record = bytes(vector.record)
  expect(vector.seed).toBe(createHash('sha256').update(vector.seedLabel).digest('hex'))
  expect(nacl.sign.keyPair.fromSeed(seed).publicKey).toEqual(publicKey)
  expect(expectedPeerId(publicKey)).toBe(vector.author)
  expect(record).toEqual(expectedOuter(payload, sig))
  const message = concat(SIGNING_INPUT_PREFIX, payload)
  expect(nacl.sign.detached.verify(message, sig, publicKey)).toBe(true)
  expect(nodeVerify(publicKey, message, sig)).toBe(true)
  // Ed25519 is deterministic: signing again from the seed gives the committed signature.
  expect(nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey)).toEqual(sig)
  expect(expectedId(record)).toBe(vector.id)
  if (vector.fields.original !== undefined) {
    checkIndependently(vector.fields.original)
    expect(vector.fields.of).toBe(vector.fields.original.id)
    // The reshare's payload carries the original's exact signed bytes.
    expect(Buffer.from(payload).includes(Buffer.from(vector.fields.original.record, 'hex'))).toBe(true)
  }
}

/** The decoded record in the vectors' JSON shape (an embedded original becomes a nested vector). */
function decodedFields(record: VerifiedRecord): Record<string, unknown> {
  const body: RecordBody = record.body
  if (body.kind !== 'reshare') return { ...body }
  const { original, ...rest } = body
  return {
    ...rest,
    original: {
      id: original.id,
      record: Buffer.from(original.bytes).toString('hex'),
      fields: decodedFields(original),
    },
  }
}

/** The stated fields in the same shape: an embedded original keeps its id, bytes and fields. */
function statedFields(fields: RecordVector['fields']): Record<string, unknown> {
  const { original } = fields
  if (original === undefined) return { ...fields }
  return {
    ...fields,
    original: { id: original.id, record: original.record, fields: statedFields(original.fields) },
  }
}

describe('valid test vectors', () => {
  it('cover every kind, a profile with and without site, and non-ASCII text', () => {
    const kinds = valid.map(([, v]) => v.fields.kind)
    expect(new Set(kinds)).toEqual(new Set(['post', 'reshare', 'delete', 'profile']))
    expect(valid.some(([, v]) => v.fields.kind === 'profile' && v.fields.site !== undefined)).toBe(true)
    expect(valid.some(([, v]) => v.fields.kind === 'profile' && v.fields.site === undefined)).toBe(true)
    expect(
      valid.some(([, v]) => [...String(v.fields.text ?? '')].some((c) => c.codePointAt(0)! > 0x7f)),
    ).toBe(true)
  })

  it.each(valid)(
    '%s: keys, encoding, signature (tweetnacl and node:crypto) and id check out independently',
    (_, vector) => {
      checkIndependently(vector)
    },
  )

  it.each(valid)('%s: decodeRecord gives the stated id and fields', (_, vector) => {
    const record = decodeRecord(bytes(vector.record), { now: vector.now })
    expect(record.id).toBe(vector.id)
    expect(record.bytes).toEqual(bytes(vector.record))
    expect(decodedFields(record)).toEqual(statedFields(vector.fields))
  })
})

describe('invalid test vectors', () => {
  it('name every refusal the brief asks for', () => {
    const names = invalid.cases.map((c) => c.name)
    for (const name of [
      'bad-signature',
      'flipped-payload-byte',
      'non-canonical-payload-key-order',
      'oversized',
      'future-timestamp',
      'reshare-of-delete',
      'unknown-field',
    ]) {
      expect(names).toContain(name)
    }
  })

  it.each(invalid.cases.map((c) => [c.name, c] as const))('%s fails with its stated reason', (_, vector) => {
    let caught: unknown
    try {
      decodeRecord(bytes(vector.record), { now: vector.now })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InvalidRecordError)
    expect((caught as InvalidRecordError).reason).toBe(vector.reason)
  })

  it('include a malleated signature that tweetnacl alone would accept: verifiers must insist on S < L', () => {
    const vector = invalid.cases.find((c) => c.name === 'malleable-signature')!
    const post = readJson('post.json') as ValidVector
    const outer = bytes(vector.record)
    const sig = outer.subarray(7, 71) // after a2, 63 "sig", 58 40
    expect(outer).toEqual(expectedOuter(bytes(post.payload), sig))
    const message = concat(SIGNING_INPUT_PREFIX, bytes(post.payload))
    expect(nacl.sign.detached.verify(message, sig, bytes(post.publicKey))).toBe(true)
    expect(nodeVerify(bytes(post.publicKey), message, sig)).toBe(false)
  })

  it('include a small-order key whose signature tweetnacl accepts for any payload: verifiers must refuse it', () => {
    const vector = invalid.cases.find((c) => c.name === 'small-order-key')!
    const outer = bytes(vector.record)
    const sig = outer.subarray(7, 71) // after a2, 63 "sig", 58 40
    const payload = outer.subarray(81) // after 67 "payload", 58 <length>
    expect(outer).toEqual(expectedOuter(payload, sig))
    const neutralPoint = Uint8Array.of(1, ...new Uint8Array(31))
    expect(sig).toEqual(Uint8Array.of(...neutralPoint, ...new Uint8Array(32)))
    const message = concat(SIGNING_INPUT_PREFIX, payload)
    for (const anyMessage of [message, concat(message, ascii('anything'))]) {
      expect(nacl.sign.detached.verify(anyMessage, sig, neutralPoint)).toBe(true)
      // node:crypto (OpenSSL) refuses it as libsodium (ed25519Verify) does.
      expect(nodeVerify(neutralPoint, anyMessage, sig)).toBe(false)
      expect(ed25519Verify(neutralPoint, anyMessage, sig)).toBe(false)
    }
  })

  it('use the signers of the valid vectors', () => {
    for (const signer of invalid.signers) {
      expect(expectedPeerId(nacl.sign.keyPair.fromSeed(bytes(signer.seed)).publicKey)).toBe(signer.author)
    }
  })
})

describe('the generator', () => {
  it('regenerates byte-identical files from its fixed seeds and timestamps', () => {
    const script = fileURLToPath(new URL('../scripts/make-test-vectors.mjs', import.meta.url))
    // Uses the built core (dist); `npm test` builds first.
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow()
  })
})
