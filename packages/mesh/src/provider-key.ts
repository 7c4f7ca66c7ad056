import { createHash } from 'node:crypto'
import { authorTopic } from '@capsule/core'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

const RAW_CODEC = 0x55
const SHA2_256 = 0x12

/**
 * The DHT key under which the followers of an author (and the author itself) announce
 * themselves as providers: CIDv1, raw codec, SHA2-256 of the UTF-8 bytes of the author's topic.
 */
export function providerKey(author: string): CID {
  const hash = createHash('sha256').update(authorTopic(author), 'utf8').digest()
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, hash))
}
