import { hash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidRecordError } from './errors.js'

const SHA2_256 = 0x12

/** CIDv1 (0x01), dag-cbor (0x71), sha2-256 (0x12), 32 bytes (0x20): what precedes the digest. */
const CID_PREFIX = Uint8Array.of(0x01, dagCbor.code, SHA2_256, 32)

/**
 * The binary CID of a record's signed bytes: the prefix above, then their SHA-256. Gossipsub names
 * every copy of a message it receives with this, so it makes no multiformats CID object.
 */
export function recordCidBytes(bytes: Uint8Array): Uint8Array {
  const cid = new Uint8Array(CID_PREFIX.length + 32)
  cid.set(CID_PREFIX)
  cid.set(hash('sha256', bytes, 'buffer'), CID_PREFIX.length)
  return cid
}

const BASE32_ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyz234567', 'latin1')
/** Room for a record id: the multibase prefix and 36 bytes in base32 (58 characters). */
const idChars = Buffer.alloc(1 + 58)

/**
 * Multibase base32 (RFC 4648, lowercase, no padding) of a binary CID, written into one buffer and
 * read as one string: multiformats' encoder builds the text a character at a time, and every
 * record received is named this way.
 */
function base32Multibase(cid: Uint8Array): string {
  idChars[0] = 0x62 // 'b'
  let length = 1
  let bits = 0
  let value = 0
  for (const byte of cid) {
    value = ((value << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      idChars[length++] = BASE32_ALPHABET[(value >>> bits) & 31] as number
    }
  }
  if (bits > 0) idChars[length++] = BASE32_ALPHABET[(value << (5 - bits)) & 31] as number
  return idChars.toString('latin1', 0, length)
}

/**
 * The id of a record: CIDv1, DAG-CBOR codec, SHA2-256 of its exact signed bytes, in base32. The
 * CID's string form without making a CID: every record received is named this way, and the CID
 * object and its string cache were a measurable part of that.
 */
export function recordId(bytes: Uint8Array): string {
  return base32Multibase(recordCidBytes(bytes))
}

/** Parses a record id as a person or peer sent it; only ids this protocol produces are accepted. */
export function parseRecordId(text: string): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch {
    throw new InvalidRecordError(
      'bad-field',
      `"${text.slice(0, 80)}" is not a record id (ids look like bafyrei…)`,
    )
  }
  // The digest length too: a truncated sha2-256 digest names no record, and accepting it would let
  // implementations disagree on whether a record that carries one is valid.
  if (
    cid.version !== 1 ||
    cid.code !== dagCbor.code ||
    cid.multihash.code !== SHA2_256 ||
    cid.multihash.size !== 32
  ) {
    throw new InvalidRecordError('bad-field', `"${text.slice(0, 80)}" is a CID, but not of a Capsule record`)
  }
  return cid
}
