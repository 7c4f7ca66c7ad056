import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'

// DER prefixes that wrap raw Ed25519 keys (RFC 8410), so node:crypto can take them without a parser.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

const publicKeyCache = new Map<string, KeyObject>()
const PUBLIC_KEY_CACHE_LIMIT = 4096

/** A node:crypto public key object for a raw 32-byte key; cached because peers repeat. */
function publicKeyObject(raw: Uint8Array): KeyObject {
  const cacheKey = Buffer.from(raw).toString('base64')
  let key = publicKeyCache.get(cacheKey)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear()
    publicKeyCache.set(cacheKey, key)
  }
  return key
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  return verify(null, message, publicKeyObject(publicKey), signature)
}

/** A signing key from a 32-byte Ed25519 seed (the first half of libp2p's 64-byte raw private key). */
export function ed25519SigningKey(seed: Uint8Array): (message: Uint8Array) => Uint8Array {
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  })
  return (message) => new Uint8Array(sign(null, message, key))
}
