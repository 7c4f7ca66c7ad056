import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidRecordError } from './errors.js'

const rawKeyCache = new Map<string, Uint8Array>()
const RAW_KEY_CACHE_LIMIT = 4096

/**
 * The raw Ed25519 public key named by an author id (a libp2p peer id with the key inlined).
 * Only the canonical base58btc form is accepted, so one author has exactly one spelling.
 */
export function authorPublicKey(author: string): Uint8Array {
  const cached = rawKeyCache.get(author)
  if (cached !== undefined) return cached
  let raw: Uint8Array | undefined
  try {
    const peerId = peerIdFromString(author)
    if (peerId.type === 'Ed25519' && peerId.toString() === author) raw = peerId.publicKey.raw
  } catch {
    // reported below
  }
  if (raw === undefined) {
    throw new InvalidRecordError(
      'bad-author',
      `author "${author.slice(0, 80)}" is not an Ed25519 libp2p peer id`,
    )
  }
  if (rawKeyCache.size >= RAW_KEY_CACHE_LIMIT) rawKeyCache.clear()
  rawKeyCache.set(author, raw)
  return raw
}

export function isAuthorId(text: string): boolean {
  try {
    authorPublicKey(text)
    return true
  } catch {
    return false
  }
}
