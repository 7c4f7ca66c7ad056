import type { PrivateKey } from '@libp2p/interface'

/**
 * The TCP port a node listens on when the app is given no `--listen`. Not 4001 (IPFS uses it,
 * and a Capsule node often shares a machine with one); unassigned by IANA.
 */
export const DEFAULT_MESH_PORT = 4637
export const DEFAULT_LISTEN = [`/ip4/0.0.0.0/tcp/${DEFAULT_MESH_PORT}`]
/** How often a node reconciles with its peers even when gossip seems fine. */
export const DEFAULT_SYNC_INTERVAL_MS = 60_000
/**
 * How often libp2p's connection monitor pings each connection (its default is 10 s). Each ping
 * opens a stream and negotiates its protocol, on every connection, from both ends; a node is
 * connected to the authors it follows, their followers and its DHT neighbours, and in a mesh of 30
 * nodes these pings were 40 % of the nodes' CPU between posts. Yamux's own ping every 30 s keeps
 * idle connections open meanwhile, and the monitor still finds a dead one within a minute.
 */
export const CONNECTION_PING_INTERVAL_MS = 60_000
/** How long `follow` looks for the author and its followers (DHT and dials) before syncing. */
export const DEFAULT_FIND_TIMEOUT_MS = 8_000

export interface MeshConfig {
  /** The node's libp2p Ed25519 key: also its author identity. */
  privateKey: PrivateKey
  /** Multiaddrs to listen on; default {@link DEFAULT_LISTEN}. Use port 0 for an ephemeral port. */
  listen?: string[]
  /** Multiaddrs to tell others instead of the listen addresses (a public address behind NAT). */
  announce?: string[]
  /** Multiaddrs (with or without `/p2p/<id>`) dialled at start; needed once, peers are remembered. */
  join?: string[]
  /** Authors followed at start (the app reads them from its store). */
  follows?: string[]
  /** Reconcile with peers this often; default {@link DEFAULT_SYNC_INTERVAL_MS}. */
  syncIntervalMs?: number
  /** Budget for finding an author and its followers in `follow`; default 8 s. */
  findTimeoutMs?: number
  /** Most connections to keep; default 64 (a personal node talks to tens of peers, not hundreds). */
  maxConnections?: number
  /**
   * Accept and remember private and loopback addresses (RFC 1918, 127/8, fc00::/7...) in the DHT
   * and the peer memory. Default false: on the internet such an address points at the wrong
   * machine. Set it for a LAN-only mesh and for tests on 127.0.0.1.
   */
  allowPrivateAddresses?: boolean
  /**
   * IPs exempt from gossipsub's IP colocation penalty. Default none: more than 10 peers behind one
   * IP look like a Sybil attack, and real households rarely run more than a few nodes behind one
   * NAT. Tests with many peers on 127.0.0.1 need ['127.0.0.1'].
   */
  ipColocationWhitelist?: string[]
  /**
   * Multiaddrs (with `/ipcidr/<n>`) exempt from the inbound connection rate limit (5 per second
   * per host) and the connection cap. Default none; tests starting many loopback peers at once
   * need ['/ip4/127.0.0.0/ipcidr/8'].
   */
  connectionAllow?: string[]
}
