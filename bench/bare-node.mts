// The baseline: a bare js-libp2p node with the services a Capsule node runs (TCP, Noise, Yamux,
// identify, ping, Kademlia DHT in server mode, gossipsub), and no Capsule code. Messages are 300
// bytes, signed with Ed25519 and verified in the topic validator with libsodium (core's ed25519Verify, as
// a Capsule node verifies) before forwarding.
// Settings:
//   'tuned' (the baseline): what the best-tuned bare mesh does, with the settings the Capsule mesh
//     uses (packages/mesh/src/mesh.ts): no envelope signature (StrictNoSign, message id = SHA-256 of
//     the data), small-mesh degrees, flood publishing, and the connection monitor's ping once a
//     minute (CONNECTION_PING_INTERVAL_MS; since 2026-11-27);
//   'defaults': gossipsub's and libp2p's defaults (envelope signed and verified by libp2p, D = 6,
//     a ping every 10 s).
// Both with the loopback knobs (no IP colocation penalty, no inbound rate limit on 127/8).
//
// Used in-process (startBareNode) and as a child process (`node bench/bare-node.mts`, driven over
// the IPC channel by bench/propagation.mts and bench/footprint.mts).
import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto'
import { ed25519Verify } from '@capsule/core'
import { CONNECTION_PING_INTERVAL_MS, providerKey, traceNow } from '@capsule/mesh'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type GossipSub, gossipsub, TopicValidatorResult } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'

export const TOPIC = 'bench'
export const MESSAGE_BYTES = 300
const SIGNED_BYTES = MESSAGE_BYTES - 64

/** Message layout: seq (u32), sent-at (f64, ms since the epoch, sub-ms), padding, signature. */
export function makeMessage(seq: number, privateKey: KeyObject): Uint8Array {
  const message = Buffer.alloc(MESSAGE_BYTES)
  message.writeUInt32BE(seq, 0)
  message.writeDoubleBE(traceNow(), 4)
  message.fill(0x61, 12, SIGNED_BYTES)
  sign(null, message.subarray(0, SIGNED_BYTES), privateKey).copy(message, SIGNED_BYTES)
  return message
}

export interface BareStages {
  transport: number
  check: number
}

export interface BareNode {
  node: Libp2p<{ pubsub: GossipSub }>
  /** Full multiaddr, with /p2p/<peer id>. */
  address: string
  /**
   * Called once per valid message delivered to this node, with the latency in ms and its stages:
   * from the author's timestamp (taken before it signs) to the validator here (`transport`), and
   * from the validator to the delivery (`check`).
   */
  onMessage?: (seq: number, ms: number, stages: BareStages) => void
  meshPeers(): number
  /** Distinct peers this node has a connection to. */
  connectedPeers(): number
  dial(addresses: string[]): Promise<void>
  /**
   * Announces the node in the DHT as a Capsule node does as it starts (packages/mesh, `#provide`):
   * a provider record under its own key and one under the author's (a Capsule follower holds the
   * author's records), each a walk that connects it to the peers closest to the key. In the
   * background, like the node's.
   */
  announce(author: string): void
  publish(seq: number): Promise<void>
  stop(): Promise<void>
}

/** The transport part of every bare node here: TCP on 127.0.0.1, Noise, Yamux, no per-IP limits. */
export function loopbackTransport() {
  return {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
  }
}

export type GossipSettings = 'tuned' | 'defaults'

const TUNED = {
  D: 4,
  Dlo: 2,
  Dhi: 8,
  Dscore: 2,
  Dout: 1,
  Dlazy: 4,
  globalSignaturePolicy: 'StrictNoSign',
  msgIdFn: (message: { data: Uint8Array }) => createHash('sha256').update(message.data).digest(),
  msgIdToStrFn: (id: Uint8Array) => Buffer.from(id).toString('base64'),
  allowPublishToZeroTopicPeers: true,
  floodPublish: true,
  fallbackToFloodsub: false,
} as const

export async function startBareNode(
  publicKeyDer: Uint8Array,
  privateKeyDer?: Uint8Array,
  subscribe = true,
  settings: GossipSettings = 'tuned',
): Promise<BareNode> {
  // The raw key after the SPKI prefix, for libsodium: the same verifier as a Capsule node's.
  const publicKey = publicKeyDer.subarray(publicKeyDer.length - 32)
  const privateKey = privateKeyDer
    ? createPrivateKey({ key: Buffer.from(privateKeyDer), format: 'der', type: 'pkcs8' })
    : undefined
  const node = await createLibp2p({
    ...loopbackTransport(),
    ...(settings === 'tuned' ? { connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS } } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ clientMode: false, peerInfoMapper: passthroughMapper }),
      pubsub: gossipsub({
        ...(settings === 'tuned' ? TUNED : {}),
        scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1']) },
      }),
    },
  })
  const pubsub = node.services.pubsub
  const bare: BareNode = {
    node,
    address: node.getMultiaddrs()[0]!.toString(),
    // getMeshPeers is on the implementation, not on the GossipSub interface.
    meshPeers: () =>
      (pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(TOPIC).length,
    connectedPeers: () => node.getPeers().length,
    async dial(addresses) {
      // A handshake can time out when the machine is busy starting many nodes: try again.
      const dialOne = async (address: string, attempts = 3): Promise<void> => {
        try {
          await node.dial(multiaddr(address))
        } catch (error) {
          if (attempts <= 1) throw error
          await dialOne(address, attempts - 1)
        }
      }
      await Promise.all(addresses.map((address) => dialOne(address)))
    },
    announce(author) {
      for (const holder of new Set([node.peerId.toString(), author]))
        node.contentRouting.provide(providerKey(holder)).catch(() => {})
    },
    async publish(seq) {
      if (privateKey === undefined) throw new Error('only the author publishes')
      await pubsub.publish(TOPIC, makeMessage(seq, privateKey))
    },
    async stop() {
      await node.stop()
    },
  }
  // When each accepted message reached the validator, by seq, until it is delivered.
  const receivedAt = new Map<number, number>()
  pubsub.topicValidators.set(TOPIC, (_peer, message) => {
    const at = traceNow()
    const data = message.data
    const ok =
      data.byteLength === MESSAGE_BYTES &&
      ed25519Verify(publicKey, data.subarray(0, SIGNED_BYTES), data.subarray(SIGNED_BYTES))
    if (ok) receivedAt.set(Buffer.from(data.buffer, data.byteOffset, 4).readUInt32BE(0), at)
    return ok ? TopicValidatorResult.Accept : TopicValidatorResult.Reject
  })
  pubsub.addEventListener('message', (event) => {
    const at = traceNow()
    const data = Buffer.from(event.detail.data)
    const seq = data.readUInt32BE(0)
    const sentAt = data.readDoubleBE(4)
    const received = receivedAt.get(seq) ?? at
    receivedAt.delete(seq)
    bare.onMessage?.(seq, at - sentAt, { transport: received - sentAt, check: at - received })
  })
  if (subscribe) pubsub.subscribe(TOPIC)
  return bare
}

/** Messages between bench/propagation.mts (parent) and a bare node process (child). */
export type ToChild =
  | { op: 'start'; publicKey: string; privateKey?: string; subscribe?: boolean; settings?: GossipSettings }
  | { op: 'dial'; addresses: string[]; announceAuthor?: string }
  | { op: 'mesh' }
  | { op: 'publish'; seq: number }
  | { op: 'stop' }
export type FromChild =
  | { op: 'ready'; address: string; peerId: string }
  | { op: 'dialed' }
  | { op: 'mesh'; meshPeers: number; connectedPeers: number }
  | { op: 'got'; seq: number; ms: number; stages: BareStages }
  | { op: 'error'; message: string }

if (import.meta.main && process.send) {
  const send = (message: FromChild) => process.send?.(message)
  let bare: BareNode | undefined
  const handle = async (message: ToChild) => {
    if (message.op === 'start') {
      bare = await startBareNode(
        Buffer.from(message.publicKey, 'base64'),
        message.privateKey ? Buffer.from(message.privateKey, 'base64') : undefined,
        message.subscribe ?? true,
        message.settings ?? 'tuned',
      )
      bare.onMessage = (seq, ms, stages) => send({ op: 'got', seq, ms, stages })
      send({ op: 'ready', address: bare.address, peerId: bare.node.peerId.toString() })
    } else if (message.op === 'dial') {
      await bare?.dial(message.addresses)
      if (message.announceAuthor) bare?.announce(message.announceAuthor)
      send({ op: 'dialed' })
    } else if (message.op === 'mesh') {
      send({ op: 'mesh', meshPeers: bare?.meshPeers() ?? 0, connectedPeers: bare?.connectedPeers() ?? 0 })
    } else if (message.op === 'publish') {
      await bare?.publish(message.seq)
    } else if (message.op === 'stop') {
      await bare?.stop()
      process.exit(0)
    }
  }
  process.on('message', (message: ToChild) => {
    handle(message).catch((error: Error) => send({ op: 'error', message: `${message.op}: ${error.message}` }))
  })
  process.on('disconnect', () => process.exit(0))
}
