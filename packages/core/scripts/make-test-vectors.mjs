#!/usr/bin/env node
// Writes packages/core/test-vectors/*.json from fixed seeds and fixed timestamps. Ed25519 and
// DAG-CBOR are deterministic, so running it again gives byte-identical files.
//
//   node_modules/.bin/tsc -b packages/core
//   node_modules/.bin/node packages/core/scripts/make-test-vectors.mjs          # write
//   node_modules/.bin/node packages/core/scripts/make-test-vectors.mjs --check  # compare, exit 1 on a difference
//
// Invalid vectors are built by hand (a payload map encoded with DAG-CBOR and signed with the same
// domain prefix as real records), so that each one fails for exactly the reason it names.
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import {
  createSigner,
  decodeRecord,
  InvalidRecordError,
  MAX_CLOCK_SKEW_MS,
  MAX_NAME_CHARS,
  MAX_RECORD_BYTES,
  MAX_TEXT_CHARS,
  SIGNING_DOMAIN,
  signRecord,
} from '../dist/index.js'

/** Every timestamp is an offset from this instant (2026-01-15T12:00:00Z), so no vector depends on the clock. */
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0)
/** The receiver's clock stated in every vector, one hour after T0. */
const NOW = T0 + 60 * 60 * 1000

const hex = (bytes) => Buffer.from(bytes).toString('hex')

/** The order of the Ed25519 group. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n

/** The same signature with S replaced by S + L: it still satisfies the verification equation, so
 * only a verifier that insists on S < L (RFC 8032, OpenSSL) refuses it; tweetnacl accepts it. */
function malleate(sig) {
  const out = new Uint8Array(sig)
  let s = 0n
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(out[32 + i])
  s += L
  for (let i = 0; i < 32; i++) out[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn)
  return out
}
const concat = (...parts) => new Uint8Array(Buffer.concat(parts))

/** The neutral point (y = 1), which has small order: with it as the key, R = it and S = 0 satisfy
 * the verification equation [S]B = R + [k]A for any message, so anyone could sign as this key.
 * tweetnacl accepts such a signature; libsodium (which Capsule verifies with) and OpenSSL refuse it. */
const NEUTRAL_POINT = concat(Uint8Array.of(1), new Uint8Array(31))
const neutralAuthor = peerIdFromPublicKey(publicKeyFromRaw(NEUTRAL_POINT)).toString()

/** A 32-byte Ed25519 seed from a label: sha256 of the label's UTF-8 bytes. */
async function identity(label) {
  const seed = new Uint8Array(createHash('sha256').update(label).digest())
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  const signer = createSigner(key)
  return { label, seed, publicKey: key.publicKey.raw, signer }
}

/** Signs any payload map the way signRecord does, without its checks, for invalid vectors. */
function signPayloadBytes(who, payload) {
  const sig = who.signer.sign(concat(SIGNING_DOMAIN, payload))
  return dagCbor.encode({ payload, sig })
}

const signPayload = (who, fields) => signPayloadBytes(who, dagCbor.encode(fields))

/** A CBOR map with its entries in the order given, so the order can be wrong on purpose. */
function mapInOrder(entries) {
  if (entries.length > 23) throw new Error('mapInOrder: small maps only')
  return concat(
    Uint8Array.of(0xa0 + entries.length),
    ...entries.flatMap(([k, v]) => [dagCbor.encode(k), dagCbor.encode(v)]),
  )
}

function header(who, seq, ts, kind) {
  return { v: 1, kind, author: who.signer.author, seq, ts }
}

/** The decoded fields as JSON: the embedded original of a reshare becomes a nested vector. */
function fieldsJson(record, signers) {
  const { body } = record
  if (body.kind !== 'reshare') return { ...body }
  return { ...body, original: recordJson(body.original, signers) }
}

function recordJson(record, signers) {
  const outer = dagCbor.decode(record.bytes)
  const who = signers.find((s) => s.signer.author === record.body.author)
  return {
    seedLabel: who.label,
    seed: hex(who.seed),
    publicKey: hex(who.publicKey),
    author: who.signer.author,
    record: hex(record.bytes),
    payload: hex(outer.payload),
    sig: hex(outer.sig),
    id: record.id,
    fields: fieldsJson(record, signers),
  }
}

function reasonOf(bytes, now) {
  try {
    decodeRecord(bytes, { now })
  } catch (error) {
    if (error instanceof InvalidRecordError) return error.reason
    throw error
  }
  return undefined
}

export async function makeTestVectors() {
  const alice = await identity('capsule test vector: alice')
  const bob = await identity('capsule test vector: bob')
  const signers = [alice, bob]
  const sign = (who, draft, seq, ts) => signRecord(draft, who.signer, { seq, ts })

  const post = sign(alice, { kind: 'post', text: 'Hello, mesh.' }, 1, T0)
  const unicodePost = sign(
    alice,
    // Accented letters, a combining accent (e + U+0301 is two code points), CJK, and astral
    // characters (an emoji with a skin-tone modifier is two code points, four UTF-16 units).
    { kind: 'post', text: 'Grüße aus Köln, cafe\u0301 — こんにちは 👋🏽 𝄞' },
    2,
    T0 + 60_000,
  )
  const bobPost = sign(bob, { kind: 'post', text: 'A post by Bob, reshared by Alice.' }, 1, T0 + 120_000)
  const reshare = sign(alice, { kind: 'reshare', original: bobPost }, 3, T0 + 180_000)
  const del = sign(alice, { kind: 'delete', target: post.id }, 4, T0 + 240_000)
  const profile = sign(
    alice,
    { kind: 'profile', name: 'Alice', bio: 'Writes about small meshes.' },
    5,
    T0 + 300_000,
  )
  const profileSite = sign(
    alice,
    { kind: 'profile', name: 'Alice Example', bio: 'Now with a site.', site: 'https://alice.example/' },
    6,
    T0 + 360_000,
  )
  // Dated exactly at the allowed skew ahead of the stated receiver clock: still valid.
  const skewLimit = sign(
    alice,
    { kind: 'post', text: 'Dated ten minutes ahead.' },
    7,
    NOW + MAX_CLOCK_SKEW_MS,
  )

  const valid = [
    ['post', 'A post.', post],
    ['post-unicode', 'A post with non-ASCII text; lengths count Unicode code points.', unicodePost],
    ['reshare', "Alice reshares Bob's post; the reshare embeds Bob's signed record.", reshare],
    ['delete', 'Alice deletes her post (test-vectors/post.json).', del],
    ['profile', 'A profile without a site.', profile],
    ['profile-site', 'A profile with a site URL.', profileSite],
    [
      'post-skew-limit',
      `A post dated exactly ${MAX_CLOCK_SKEW_MS} ms after "now": the largest valid skew.`,
      skewLimit,
    ],
  ]

  const files = {}
  for (const [name, description, record] of valid) {
    files[`${name}.json`] = { description, valid: true, now: NOW, ...recordJson(record, signers) }
  }

  // --- invalid vectors -------------------------------------------------------------------------
  const postOuter = dagCbor.decode(post.bytes)
  const postFields = header(alice, 1, T0, 'post')
  const withText = (text, seq = 10) => ({ ...header(alice, seq, T0, 'post'), text })

  const flipSig = new Uint8Array(postOuter.sig)
  flipSig[63] ^= 0x01
  // 'H' (0x48) to 'h' (0x68) inside the text: the payload is still canonical, only the signature fails.
  const flippedPayload = new Uint8Array(postOuter.payload)
  flippedPayload[Buffer.from(flippedPayload).indexOf('Hello')] ^= 0x20

  // Same fields as post.json, keys in the wrong order (canonical order is by length, then bytes).
  const misorderedPayload = mapInOrder([
    ['v', 1],
    ['kind', 'post'],
    ['author', alice.signer.author],
    ['seq', 1],
    ['ts', T0],
    ['text', 'Hello, mesh.'],
  ])
  // post.json's signed pieces with "payload" first; canonical order is "sig" (shorter key) first.
  const misorderedOuter = mapInOrder([
    ['payload', postOuter.payload],
    ['sig', postOuter.sig],
  ])
  // "seq": 1 written as 0x18 0x01 (one-byte argument) instead of 0x01: not minimal.
  const canonical = dagCbor.encode(postFields)
  const seqAt = Buffer.from(canonical).indexOf(Buffer.from('63736571', 'hex')) + 4
  const nonMinimal = concat(
    canonical.subarray(0, seqAt),
    Uint8Array.of(0x18, 0x01),
    canonical.subarray(seqAt + 1),
  )

  // Grow an unknown field until the signed record is exactly one byte over the limit, or at it.
  const padded = (total) => {
    for (let n = total - 200; n < total; n++) {
      const bytes = signPayload(alice, { ...withText('padded', 11), pad: new Uint8Array(n) })
      if (bytes.length === total) return bytes
    }
    throw new Error(`no padding gives ${total} bytes`)
  }

  const bobFuture = sign(bob, { kind: 'post', text: 'From the future.' }, 2, NOW + MAX_CLOCK_SKEW_MS + 1)
  const bobBadSig = (() => {
    const outer = dagCbor.decode(bobPost.bytes)
    const sig = new Uint8Array(outer.sig)
    sig[0] ^= 0x80
    return dagCbor.encode({ payload: outer.payload, sig })
  })()
  const reshareOf = (originalBytes, of, seq) =>
    signPayload(alice, { ...header(alice, seq, T0, 'reshare'), of: CID.parse(of), original: originalBytes })

  const invalid = [
    [
      'bad-signature',
      'post.json with the last signature byte flipped.',
      dagCbor.encode({ payload: postOuter.payload, sig: flipSig }),
      'bad-signature',
    ],
    [
      'flipped-payload-byte',
      "post.json with one payload byte changed ('H' to 'h' in the text); signature unchanged.",
      dagCbor.encode({ payload: flippedPayload, sig: postOuter.sig }),
      'bad-signature',
    ],
    [
      'signed-by-other-key',
      'A post naming Alice as author, signed by Bob.',
      signPayload(bob, withText('Not really Alice.')),
      'bad-signature',
    ],
    [
      'non-canonical-payload-key-order',
      "post.json's fields with the payload's map keys out of canonical order, correctly signed.",
      signPayloadBytes(alice, misorderedPayload),
      'non-canonical',
    ],
    [
      'non-canonical-outer-key-order',
      'post.json\'s payload and sig in an outer map with "payload" before "sig".',
      misorderedOuter,
      'non-canonical',
    ],
    [
      'non-canonical-float',
      'A payload with seq written as the float 1.0 instead of the integer 1, correctly signed.',
      signPayloadBytes(
        alice,
        concat(
          canonical.subarray(0, seqAt),
          Uint8Array.of(0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0),
          canonical.subarray(seqAt + 1),
        ),
      ),
      'non-canonical',
    ],
    [
      'non-minimal-integer',
      'A payload with seq 1 encoded in two bytes (0x18 0x01), correctly signed; strict DAG-CBOR decoding refuses it.',
      signPayloadBytes(alice, nonMinimal),
      'malformed',
    ],
    [
      'truncated',
      'post.json without its last byte.',
      post.bytes.subarray(0, post.bytes.length - 1),
      'malformed',
    ],
    [
      'trailing-bytes',
      'post.json followed by one extra zero byte.',
      concat(post.bytes, Uint8Array.of(0)),
      'malformed',
    ],
    [
      'short-signature',
      'post.json with a 63-byte signature.',
      dagCbor.encode({ payload: postOuter.payload, sig: postOuter.sig.subarray(0, 63) }),
      'malformed',
    ],
    [
      'oversized',
      `A correctly signed record of ${MAX_RECORD_BYTES + 1} bytes (padded with an unknown field): refused for size before anything is decoded.`,
      padded(MAX_RECORD_BYTES + 1),
      'too-large',
    ],
    [
      'size-at-limit',
      `The same padding at exactly ${MAX_RECORD_BYTES} bytes passes the size check and is refused for its unknown field.`,
      padded(MAX_RECORD_BYTES),
      'bad-field',
    ],
    [
      'future-timestamp',
      `A post dated ${MAX_CLOCK_SKEW_MS + 1} ms after "now".`,
      signPayload(alice, { ...header(alice, 12, NOW + MAX_CLOCK_SKEW_MS + 1, 'post'), text: 'Too early.' }),
      'future-timestamp',
    ],
    [
      'unknown-field',
      'A post with an extra field "lang", correctly signed.',
      signPayload(alice, { ...withText('Bonjour.'), lang: 'fr' }),
      'bad-field',
    ],
    [
      'missing-field',
      'A post without "text", correctly signed.',
      signPayload(alice, header(alice, 13, T0, 'post')),
      'bad-field',
    ],
    [
      'empty-text',
      'A post whose text is only whitespace.',
      signPayload(alice, withText(' \n\t ')),
      'bad-field',
    ],
    [
      'text-too-long',
      `A post of ${MAX_TEXT_CHARS + 1} code points.`,
      signPayload(alice, withText('a'.repeat(MAX_TEXT_CHARS + 1))),
      'text-too-long',
    ],
    [
      'name-too-long',
      `A profile whose name is ${MAX_NAME_CHARS + 1} code points.`,
      signPayload(alice, {
        ...header(alice, 14, T0, 'profile'),
        name: 'é'.repeat(MAX_NAME_CHARS + 1),
        bio: '',
      }),
      'text-too-long',
    ],
    [
      'bad-site',
      'A profile whose site is not an http(s) URL.',
      signPayload(alice, {
        ...header(alice, 15, T0, 'profile'),
        name: 'Alice',
        bio: '',
        site: 'ftp://alice.example/',
      }),
      'bad-field',
    ],
    [
      'seq-zero',
      'A post with seq 0 (sequence numbers start at 1).',
      signPayload(alice, withText('Zero.', 0)),
      'bad-field',
    ],
    [
      'bad-version',
      'A post with v 2.',
      signPayload(alice, { ...withText('Version two.'), v: 2 }),
      'bad-version',
    ],
    [
      'unknown-kind',
      'A record of kind "like".',
      signPayload(alice, { ...header(alice, 16, T0, 'like'), target: CID.parse(post.id) }),
      'unknown-kind',
    ],
    [
      'bad-author',
      'A post whose author is not an Ed25519 peer id.',
      signPayload(alice, { ...withText('Who am I?'), author: 'alice' }),
      'bad-author',
    ],
    [
      'reshare-of-delete',
      'A reshare embedding delete.json (only posts can be reshared), correctly signed.',
      reshareOf(del.bytes, del.id, 17),
      'bad-embed',
    ],
    [
      'reshare-of-reshare',
      'A reshare embedding reshare.json, correctly signed.',
      reshareOf(reshare.bytes, reshare.id, 18),
      'bad-embed',
    ],
    [
      'reshare-of-mismatch',
      'A reshare embedding Bob\'s post while "of" names post.json.',
      reshareOf(bobPost.bytes, post.id, 19),
      'bad-embed',
    ],
    [
      'reshare-of-bad-signature',
      "A reshare embedding Bob's post with a broken signature.",
      reshareOf(bobBadSig, bobPost.id, 20),
      'bad-embed',
    ],
    [
      'reshare-of-future',
      'A reshare embedding a post by Bob dated beyond the allowed skew.',
      reshareOf(bobFuture.bytes, bobFuture.id, 21),
      'bad-embed',
    ],
    [
      'malleable-signature',
      "post.json with the signature's S replaced by S + L (the group order): tweetnacl accepts it, RFC 8032 requires S < L.",
      dagCbor.encode({ payload: postOuter.payload, sig: malleate(postOuter.sig) }),
      'bad-signature',
    ],
    [
      'small-order-key',
      'A post whose author key is the neutral point, "signed" with R = that point and S = 0, which satisfies the verification equation for any payload (tweetnacl accepts it): keys and R of small order must be refused.',
      dagCbor.encode({
        payload: dagCbor.encode({
          v: 1,
          kind: 'post',
          author: neutralAuthor,
          seq: 1,
          ts: T0,
          text: 'Anyone.',
        }),
        sig: concat(NEUTRAL_POINT, new Uint8Array(32)),
      }),
      'bad-signature',
    ],
    [
      'delete-target-short-digest',
      'A delete whose target is a CIDv1 dag-cbor sha2-256 link with a 20-byte digest.',
      signPayload(alice, {
        ...header(alice, 22, T0, 'delete'),
        target: CID.createV1(dagCbor.code, Digest.create(0x12, new Uint8Array(20).fill(7))),
      }),
      'bad-field',
    ],
    [
      'delete-target-raw-codec',
      'A delete whose target is a CIDv1 with the raw codec (0x55) instead of dag-cbor.',
      signPayload(alice, {
        ...header(alice, 23, T0, 'delete'),
        target: CID.createV1(0x55, CID.parse(post.id).multihash),
      }),
      'bad-field',
    ],
  ]

  const cases = []
  for (const [name, description, bytes, reason] of invalid) {
    const got = reasonOf(bytes, NOW)
    if (got !== reason)
      throw new Error(`invalid vector ${name}: expected ${reason}, decodeRecord says ${got ?? 'valid'}`)
    cases.push({ name, description, now: NOW, record: hex(bytes), reason })
  }
  files['invalid.json'] = {
    description:
      'Records that decodeRecord must refuse, each with the reason it names. Signers are those of the valid vectors (seed = sha256 of the label).',
    signers: signers.map((s) => ({
      seedLabel: s.label,
      seed: hex(s.seed),
      publicKey: hex(s.publicKey),
      author: s.signer.author,
    })),
    cases,
  }

  return Object.fromEntries(
    Object.entries(files).map(([file, json]) => [file, `${JSON.stringify(json, null, 2)}\n`]),
  )
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]
if (isMain) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-vectors')
  const check = process.argv.includes('--check')
  let differs = 0
  for (const [file, text] of Object.entries(await makeTestVectors())) {
    const path = join(dir, file)
    if (check) {
      let old = ''
      try {
        old = readFileSync(path, 'utf8')
      } catch {}
      if (old !== text) {
        differs++
        console.error(`${file} differs from what the generator makes`)
      }
    } else {
      writeFileSync(path, text)
      console.log(`wrote ${path}`)
    }
  }
  if (differs > 0) process.exitCode = 1
}
