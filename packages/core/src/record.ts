import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { authorPublicKey } from './authors.js'
import { plainCanonicalMap } from './canonical-payload.js'
import { ed25519SigningKey, ed25519Verify } from './ed25519.js'
import { InvalidRecordError } from './errors.js'
import {
  MAX_BIO_CHARS,
  MAX_CLOCK_SKEW_MS,
  MAX_NAME_CHARS,
  MAX_RECORD_BYTES,
  MAX_SEQ,
  MAX_SITE_URL_CHARS,
  MAX_TEXT_CHARS,
  RECORD_VERSION,
} from './limits.js'
import { parseRecordId, recordId } from './record-id.js'
import type { PostBody, RecordBody, RecordDraft, VerifiedRecord } from './types.js'

/** Prepended to the payload bytes before signing, so a Capsule signature means nothing elsewhere. */
export const SIGNING_DOMAIN = new TextEncoder().encode('capsule-record-v1:')

export interface DecodeOptions {
  /** The receiver's clock, Unix ms; records dated beyond it by more than the allowed skew are refused. */
  now?: number
}

/** One Ed25519 check: the author's raw 32-byte public key, the signed input, the signature. */
export interface SignatureCheck {
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

/** A signature check of a record being parsed, and what to refuse if it (or its timestamp) fails. */
interface DeferredCheck {
  signature: SignatureCheck
  ts: number
  /** Whether it is the embedded original's: its failures are the reshare's `bad-embed`. */
  embedded: boolean
}

function signingInput(payload: Uint8Array): Uint8Array {
  const input = new Uint8Array(SIGNING_DOMAIN.length + payload.length)
  input.set(SIGNING_DOMAIN)
  input.set(payload, SIGNING_DOMAIN.length)
  return input
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  )
}

/** Names a decoded value in a message without coercing it: a CBOR map may carry a "toString" key. */
function describe(value: unknown): string {
  return typeof value === 'object' && value !== null ? Object.prototype.toString.call(value) : String(value)
}

function fail(reason: ConstructorParameters<typeof InvalidRecordError>[0], message: string): never {
  throw new InvalidRecordError(reason, message)
}

function expectKeys(map: Record<string, unknown>, required: string[], optional: string[] = []): void {
  for (const key of required) if (!(key in map)) fail('bad-field', `field "${key}" is missing`)
  for (const key of Object.keys(map)) {
    if (!required.includes(key) && !optional.includes(key))
      fail('bad-field', `unknown field "${key.slice(0, 40)}"`)
  }
}

function boundedString(value: unknown, field: string, maxChars: number): string {
  if (typeof value !== 'string') fail('bad-field', `field "${field}" must be a string`)
  // Code points, not UTF-16 units, so the bound means the same in every language.
  let chars = 0
  for (const _ of value)
    if (++chars > maxChars) fail('text-too-long', `${field} is longer than ${maxChars} characters`)
  return value
}

function link(value: unknown, field: string): string {
  const cid = CID.asCID(value)
  if (cid === null) fail('bad-field', `field "${field}" must be a record id link`)
  const text = cid.toString()
  parseRecordId(text)
  return text
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail('bad-field', `field "${field}" must be an integer from ${min} to ${max}`)
  }
  return value
}

function decodeCbor(bytes: Uint8Array, what: string): unknown {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (error) {
    fail('malformed', `${what} is not valid DAG-CBOR: ${(error as Error).message}`)
  }
  // One record, one encoding: anything the canonical encoder would write differently is refused,
  // so no two byte strings (and ids) can carry the same signed content.
  if (!sameBytes(dagCbor.encode(value), bytes))
    fail('non-canonical', `${what} is not in canonical DAG-CBOR form`)
  return value
}

function decodeBody(payload: Record<string, unknown>, checks: DeferredCheck[], depth: number): RecordBody {
  if (payload.v !== RECORD_VERSION)
    fail('bad-version', `record version ${describe(payload.v).slice(0, 40)} is not supported`)
  const header = {
    v: RECORD_VERSION,
    author:
      typeof payload.author === 'string'
        ? payload.author
        : fail('bad-author', 'field "author" must be a string'),
    seq: integer(payload.seq, 'seq', 1, MAX_SEQ),
    ts: integer(payload.ts, 'ts', 0, Number.MAX_SAFE_INTEGER),
  } as const
  const base = ['v', 'kind', 'author', 'seq', 'ts']
  switch (payload.kind) {
    case 'post': {
      expectKeys(payload, [...base, 'text'])
      const text = boundedString(payload.text, 'text', MAX_TEXT_CHARS)
      if (text.trim() === '') fail('bad-field', 'post text is empty')
      return { ...header, kind: 'post', text }
    }
    case 'reshare': {
      expectKeys(payload, [...base, 'of', 'original'])
      const of = link(payload.of, 'of')
      if (!(payload.original instanceof Uint8Array))
        fail('bad-embed', 'field "original" must hold the signed bytes')
      if (depth > 0) fail('bad-embed', 'a reshare cannot embed another reshare')
      let original: VerifiedRecord
      try {
        original = parseAt(payload.original, checks, depth + 1)
      } catch (error) {
        if (error instanceof InvalidRecordError) fail('bad-embed', `embedded original: ${error.message}`)
        throw error
      }
      if (original.body.kind !== 'post') fail('bad-embed', 'only posts can be reshared')
      if (original.id !== of) fail('bad-embed', 'field "of" does not match the embedded original')
      return { ...header, kind: 'reshare', of, original: original as VerifiedRecord<PostBody> }
    }
    case 'delete': {
      expectKeys(payload, [...base, 'target'])
      return { ...header, kind: 'delete', target: link(payload.target, 'target') }
    }
    case 'profile': {
      expectKeys(payload, [...base, 'name', 'bio'], ['site'])
      const body: RecordBody = {
        ...header,
        kind: 'profile',
        name: boundedString(payload.name, 'name', MAX_NAME_CHARS),
        bio: boundedString(payload.bio, 'bio', MAX_BIO_CHARS),
      }
      if (payload.site !== undefined) {
        const site = boundedString(payload.site, 'site', MAX_SITE_URL_CHARS)
        if (!/^https?:\/\//.test(site) || !URL.canParse(site))
          fail('bad-field', 'site must be an http(s) URL')
        body.site = site
      }
      return body
    }
    default:
      fail('unknown-kind', `unknown record kind "${describe(payload.kind).slice(0, 40)}"`)
  }
}

/**
 * The canonical encoding of the outer map, `{ "sig": bytes(64), "payload": bytes }`, has one
 * shape: map(2), "sig", a 64-byte string, "payload", then the payload's length in its shortest
 * form and the payload to the end. Read directly, it costs a catch-up no decoding and re-encoding
 * of every record's outer map; anything else goes the general way, which names what is wrong.
 */
const OUTER_HEAD = Uint8Array.of(0xa2, 0x63, ...new TextEncoder().encode('sig'), 0x58, 0x40)
const PAYLOAD_KEY = Uint8Array.of(0x67, ...new TextEncoder().encode('payload'))
const SIG_AT = OUTER_HEAD.length
const PAYLOAD_KEY_AT = SIG_AT + 64
const PAYLOAD_HEAD_AT = PAYLOAD_KEY_AT + PAYLOAD_KEY.length

function startsWithAt(bytes: Uint8Array, part: Uint8Array, at: number): boolean {
  for (let i = 0; i < part.length; i++) if (bytes[at + i] !== part[i]) return false
  return true
}

function canonicalOuter(bytes: Uint8Array): { payload: Uint8Array; sig: Uint8Array } | undefined {
  if (!startsWithAt(bytes, OUTER_HEAD, 0) || !startsWithAt(bytes, PAYLOAD_KEY, PAYLOAD_KEY_AT))
    return undefined
  const head = bytes[PAYLOAD_HEAD_AT]
  let length: number
  let start: number
  if (head === undefined) return undefined
  if (head >= 0x40 && head < 0x58) [length, start] = [head - 0x40, PAYLOAD_HEAD_AT + 1]
  else if (head === 0x58) [length, start] = [bytes[PAYLOAD_HEAD_AT + 1] ?? 0, PAYLOAD_HEAD_AT + 2]
  else if (head === 0x59)
    [length, start] = [
      ((bytes[PAYLOAD_HEAD_AT + 1] ?? 0) << 8) | (bytes[PAYLOAD_HEAD_AT + 2] ?? 0),
      PAYLOAD_HEAD_AT + 3,
    ]
  else return undefined
  // Shortest form only, and the payload runs exactly to the end.
  if ((head === 0x58 && length < 24) || (head === 0x59 && length < 256) || start + length !== bytes.length)
    return undefined
  return { payload: bytes.subarray(start), sig: bytes.subarray(SIG_AT, SIG_AT + 64) }
}

function decodeOuter(bytes: Uint8Array): { payload: Uint8Array; sig: Uint8Array } {
  const fast = canonicalOuter(bytes)
  if (fast !== undefined) return fast
  const outer = decodeCbor(bytes, 'record')
  if (!isPlainObject(outer)) fail('malformed', 'a record must be a map of payload and sig')
  expectKeys(outer, ['payload', 'sig'])
  const { payload, sig } = outer
  if (!(payload instanceof Uint8Array) || !(sig instanceof Uint8Array) || sig.length !== 64) {
    fail('malformed', 'payload must be bytes and sig 64 bytes')
  }
  return { payload, sig }
}

function parseAt(bytes: Uint8Array, checks: DeferredCheck[], depth: number): VerifiedRecord {
  if (!(bytes instanceof Uint8Array)) fail('malformed', 'a record must be bytes')
  if (bytes.length > MAX_RECORD_BYTES)
    fail('too-large', `record is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`)
  const { payload: payloadBytes, sig } = decodeOuter(bytes)
  const payload = plainCanonicalMap(payloadBytes) ?? decodeCbor(payloadBytes, 'payload')
  if (!isPlainObject(payload)) fail('malformed', 'a payload must be a map')
  const body = decodeBody(payload, checks, depth)
  checks.push({
    signature: {
      publicKey: authorPublicKey(body.author),
      message: signingInput(payloadBytes),
      signature: sig,
    },
    ts: body.ts,
    embedded: depth > 0,
  })
  return { id: recordId(bytes), bytes, body }
}

/**
 * A record whose encoding, fields and bounds are checked, and whose signatures (its own, and an
 * embedded original's) are not yet. Check {@link signatures} anywhere (another thread, say), then
 * {@link accept} with the results; nothing else may be done with the record before that.
 */
export class ParsedRecord {
  /** The Ed25519 checks the record needs, all of which must pass. */
  readonly signatures: readonly SignatureCheck[]
  readonly #record: VerifiedRecord
  readonly #checks: readonly DeferredCheck[]
  readonly #now: number

  constructor(record: VerifiedRecord, checks: DeferredCheck[], now: number) {
    this.#record = record
    this.#checks = checks
    this.#now = now
    this.signatures = checks.map((check) => check.signature)
  }

  /**
   * What the record claims to be, before its signatures are checked: good only for refusing it
   * early (a record nobody asked for), never for storing or showing.
   */
  get claimed(): RecordBody {
    return this.#record.body
  }

  /**
   * The record, given whether each of {@link signatures} verified (same order); throws
   * {@link InvalidRecordError} for a bad signature or a timestamp too far ahead.
   */
  accept(valid: readonly boolean[]): VerifiedRecord {
    if (valid.length !== this.#checks.length) throw new TypeError('one result per signature check is needed')
    for (const [i, check] of this.#checks.entries()) {
      const [reason, message] = valid[i]
        ? check.ts > this.#now + MAX_CLOCK_SKEW_MS
          ? (['future-timestamp', 'the record is dated more than 10 minutes ahead'] as const)
          : []
        : (['bad-signature', 'the signature does not match the author and payload'] as const)
      if (reason === undefined) continue
      if (check.embedded) fail('bad-embed', `embedded original: ${message}`)
      fail(reason, message)
    }
    return this.#record
  }
}

/**
 * Checks everything about a record but its signatures; see {@link ParsedRecord}. Throws
 * {@link InvalidRecordError} naming the reason.
 */
export function parseRecord(bytes: Uint8Array, options: DecodeOptions = {}): ParsedRecord {
  const checks: DeferredCheck[] = []
  const record = parseAt(bytes, checks, 0)
  return new ParsedRecord(record, checks, options.now ?? Date.now())
}

/** Whether one signature check passes, on this thread. */
export function verifySignature(check: SignatureCheck): boolean {
  return ed25519Verify(check.publicKey, check.message, check.signature)
}

/**
 * The one gate for records: accepts only well-formed, canonical, correctly signed, in-bounds
 * records, and otherwise throws {@link InvalidRecordError} naming the reason.
 */
export function decodeRecord(bytes: Uint8Array, options: DecodeOptions = {}): VerifiedRecord {
  const parsed = parseRecord(bytes, options)
  return parsed.accept(parsed.signatures.map(verifySignature))
}

/** Signs records for one identity. The author id is the libp2p peer id of the key. */
export interface Signer {
  readonly author: string
  sign(message: Uint8Array): Uint8Array
}

export function createSigner(privateKey: PrivateKey): Signer {
  if (privateKey.type !== 'Ed25519') throw new TypeError('Capsule identities are Ed25519 keys')
  return { author: peerIdFromPrivateKey(privateKey).toString(), sign: ed25519SigningKey(privateKey.raw) }
}

function draftFields(draft: RecordDraft): Record<string, unknown> {
  switch (draft.kind) {
    case 'post':
      return { text: draft.text }
    case 'reshare':
      return { of: CID.parse(draft.original.id), original: draft.original.bytes }
    case 'delete':
      return { target: parseRecordId(draft.target) }
    case 'profile':
      return draft.site === undefined || draft.site === ''
        ? { name: draft.name, bio: draft.bio }
        : { name: draft.name, bio: draft.bio, site: draft.site }
  }
}

/**
 * Encodes and signs a new record, then checks it with {@link decodeRecord} so that nothing is
 * published that other nodes would refuse; out-of-bounds drafts throw {@link InvalidRecordError}.
 */
export function signRecord(
  draft: RecordDraft,
  signer: Signer,
  header: { seq: number; ts: number },
): VerifiedRecord {
  const fields = draftFields(draft)
  for (const [key, value] of Object.entries(fields)) {
    // UTF-8 cannot carry a lone surrogate: the encoder would sign U+FFFD instead of what was typed.
    if (typeof value === 'string' && !value.isWellFormed()) fail('bad-field', `${key} holds invalid Unicode`)
  }
  const payload = dagCbor.encode({
    v: RECORD_VERSION,
    kind: draft.kind,
    author: signer.author,
    seq: header.seq,
    ts: header.ts,
    ...fields,
  })
  const bytes = dagCbor.encode({ payload, sig: signer.sign(signingInput(payload)) })
  return decodeRecord(bytes, { now: header.ts })
}
