import { readFileSync, writeFileSync } from 'node:fs'
import { createSigner, type Signer } from '@capsule/core'
import type { Store } from '@capsule/store'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/** The backup file written by `capsule key export` and read by `capsule init --import`. */
interface KeyFile {
  format: 'capsule-identity'
  version: 1
  peerId: string
  /** base64 of the libp2p protobuf encoding of the Ed25519 private key */
  privateKey: string
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError'
}

export interface Identity {
  privateKey: PrivateKey
  peerId: string
  signer: Signer
}

function identityFrom(privateKey: PrivateKey): Identity {
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), signer: createSigner(privateKey) }
}

export async function generateIdentity(): Promise<Identity> {
  return identityFrom(await generateKeyPair('Ed25519'))
}

export function saveIdentity(store: Store, identity: Identity): void {
  store.identity.create({ privateKey: privateKeyToProtobuf(identity.privateKey), peerId: identity.peerId })
}

export function loadIdentity(store: Store): Identity | undefined {
  const stored = store.identity.get()
  return stored && identityFrom(privateKeyFromProtobuf(stored.privateKey))
}

/** Writes the key backup owner-only, and never over an existing file. */
export function exportKeyFile(identity: Identity, path: string): void {
  const file: KeyFile = {
    format: 'capsule-identity',
    version: 1,
    peerId: identity.peerId,
    privateKey: Buffer.from(privateKeyToProtobuf(identity.privateKey)).toString('base64'),
  }
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
}

export function importKeyFile(path: string): Identity {
  let file: Partial<KeyFile>
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as Partial<KeyFile>
  } catch (error) {
    throw new KeyFileError(`cannot read ${path} as a Capsule key file: ${(error as Error).message}`)
  }
  if (file.format !== 'capsule-identity' || file.version !== 1 || typeof file.privateKey !== 'string') {
    throw new KeyFileError(`${path} is not a Capsule key file (made by "capsule key export")`)
  }
  let identity: Identity
  try {
    const key = privateKeyFromProtobuf(Buffer.from(file.privateKey, 'base64'))
    if (key.type !== 'Ed25519') throw new Error('not an Ed25519 key')
    identity = identityFrom(key)
  } catch (error) {
    throw new KeyFileError(`${path} holds no usable key: ${(error as Error).message}`)
  }
  if (identity.peerId !== file.peerId) {
    throw new KeyFileError(`${path} is damaged: its key belongs to ${identity.peerId}, not ${file.peerId}`)
  }
  return identity
}
