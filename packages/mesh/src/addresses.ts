import { isAuthorId } from '@capsule/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

function ipv4IsPrivate(host: string): boolean {
  const [a = 0, b = 0] = host.split('.').map(Number)
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168)
  )
}

function ipv6IsPrivate(host: string): boolean {
  const h = host.toLowerCase()
  return h === '::' || h === '::1' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || h.startsWith('::ffff:')
}

/**
 * The addresses worth remembering or handing to others: TCP addresses with a concrete host
 * (not 0.0.0.0, not a relay), without the `/p2p/<id>` suffix; private and loopback ones only when
 * `allowPrivate` (a LAN or a test), since a stranger cannot reach them.
 */
export function dialableAddresses(addrs: Multiaddr[], allowPrivate: boolean): string[] {
  const out = new Set<string>()
  for (const addr of addrs) {
    const parts = addr.getComponents()
    const [host, transport] = parts
    if (host === undefined || transport?.name !== 'tcp') continue
    if (parts.some((part) => part.name === 'p2p-circuit')) continue
    const value = host.value ?? ''
    if (host.name === 'ip4') {
      if (value === '0.0.0.0' || (!allowPrivate && ipv4IsPrivate(value))) continue
    } else if (host.name === 'ip6') {
      if (value === '::' || (!allowPrivate && ipv6IsPrivate(value))) continue
    } else if (!['dns', 'dns4', 'dns6'].includes(host.name)) continue
    out.add(multiaddr(`/${host.name}/${value}/tcp/${transport.value}`).toString())
  }
  return [...out].slice(0, 8)
}

/** A follow target as a person types it: a peer id, or a multiaddr ending in `/p2p/<peer id>`. */
export interface FollowTarget {
  author: string
  /** Where to dial the author first, when the target was a multiaddr. */
  multiaddrs: string[]
}

export function parseFollowTarget(text: string): FollowTarget {
  const trimmed = text.trim()
  if (isAuthorId(trimmed)) return { author: trimmed, multiaddrs: [] }
  if (trimmed.startsWith('/')) {
    let addr: Multiaddr
    try {
      addr = multiaddr(trimmed)
    } catch {
      throw new TypeError(`"${trimmed.slice(0, 120)}" is not a valid multiaddr`)
    }
    const id = addr.getComponents().findLast((part) => part.name === 'p2p')?.value
    if (id !== undefined && isAuthorId(id)) return { author: id, multiaddrs: [addr.toString()] }
    throw new TypeError('a multiaddr to follow must end in /p2p/<peer id> of an Ed25519 identity')
  }
  throw new TypeError(
    `"${trimmed.slice(0, 120)}" is neither a peer id nor a multiaddr ending in /p2p/<peer id>`,
  )
}
