import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { dialableAddresses, parseFollowTarget } from './addresses.js'
import { providerKey } from './provider-key.js'

const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

describe('parseFollowTarget', () => {
  it('takes a peer id or a multiaddr ending in /p2p/<id>', () => {
    expect(parseFollowTarget(` ${id} `)).toEqual({ author: id, multiaddrs: [] })
    const address = `/ip4/127.0.0.1/tcp/4637/p2p/${id}`
    expect(parseFollowTarget(address)).toEqual({ author: id, multiaddrs: [address] })
  })

  it('explains what it refuses', () => {
    expect(() => parseFollowTarget('alice')).toThrow(/peer id/)
    expect(() => parseFollowTarget('/ip4/127.0.0.1/tcp/4637')).toThrow(/\/p2p\//)
    expect(() => parseFollowTarget('/ip4/not-an-ip/tcp/1')).toThrow(/multiaddr/)
  })
})

describe('dialableAddresses', () => {
  const addrs = [
    '/ip4/0.0.0.0/tcp/4637',
    '/ip4/127.0.0.1/tcp/4637',
    '/ip4/192.168.1.9/tcp/4637',
    '/ip4/203.0.113.7/tcp/4637',
    `/ip4/203.0.113.7/tcp/4637/p2p/${id}`,
    '/dns4/capsule.example/tcp/4637',
    '/ip4/203.0.113.7/udp/4637/quic-v1',
  ].map((a) => multiaddr(a))

  it('keeps concrete TCP addresses, and private ones only when allowed', () => {
    expect(dialableAddresses(addrs, false)).toEqual([
      '/ip4/203.0.113.7/tcp/4637',
      '/dns4/capsule.example/tcp/4637',
    ])
    expect(dialableAddresses(addrs, true)).toEqual([
      '/ip4/127.0.0.1/tcp/4637',
      '/ip4/192.168.1.9/tcp/4637',
      '/ip4/203.0.113.7/tcp/4637',
      '/dns4/capsule.example/tcp/4637',
    ])
  })
})

describe('providerKey', () => {
  it('is a raw CIDv1 of the SHA2-256 of the author topic', () => {
    const key = providerKey(id)
    expect(key.version).toBe(1)
    expect(key.code).toBe(0x55)
    expect(key.multihash.code).toBe(0x12)
    expect(providerKey(id).equals(key)).toBe(true)
  })

  it('matches the test vector in docs/PROTOCOL.md', () => {
    // The author whose Ed25519 seed is 32 zero bytes.
    expect(providerKey('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN').toString()).toBe(
      'bafkreiapr4hgkkj77we73rrmrtpywpgrqtund6pjejrorms3z3ysg4h4se',
    )
  })
})
