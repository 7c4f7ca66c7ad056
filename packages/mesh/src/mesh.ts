import { setTimeout as sleep } from 'node:timers/promises'
import {
  authorTopic,
  decodeRecord,
  InvalidRecordError,
  isAuthorId,
  parseRecord,
  recordCidBytes,
  topicAuthor,
  type VerifiedRecord,
} from '@capsule/core'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import {
  type GossipSub,
  type GossipsubMessage,
  gossipsub,
  type Message,
  TopicValidatorResult,
} from '@libp2p/gossipsub'
import { createTopicScoreParams, type PeerScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import {
  type IdentifyResult,
  KEEP_ALIVE,
  type PeerId,
  TypedEventEmitter,
  type TypedEventTarget,
} from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { dialableAddresses, parseFollowTarget } from './addresses.js'
import {
  CONNECTION_PING_INTERVAL_MS,
  DEFAULT_FIND_TIMEOUT_MS,
  DEFAULT_LISTEN,
  DEFAULT_SYNC_INTERVAL_MS,
  type MeshConfig,
} from './config.js'
import { MeshNotStartedError } from './errors.js'
import type { Logger, MeshRecords, PeerMemory } from './interfaces.js'
import { providerKey } from './provider-key.js'
import {
  continueAfter,
  type FetchedRecords,
  fetchPages,
  type PeerAllowance,
  requestHeads,
  SYNC_MAX_HEADS,
  SYNC_PAGE_RECORDS,
  SYNC_PROTOCOL,
  SyncRefusedError,
  serveSync,
  type VerifySignatures,
  verifyFetched,
} from './sync-protocol.js'
import { TokenBucket } from './token-bucket.js'
import { type AcceptedTrace, acceptedChannel, type StoredTrace, storedChannel, traceNow } from './trace.js'

/** The Kademlia protocol of the Capsule mesh: its own DHT, not the IPFS one (see docs). */
export const CAPSULE_DHT_PROTOCOL = '/capsule/kad/1.0.0'

export interface MeshDeps {
  records: MeshRecords
  peers: PeerMemory
  logger: Logger
  /**
   * Checks the signatures of synced records, a page at a time; default: on the main thread. The
   * app passes a worker pool (`createSignaturePool`), so a catch-up verifies beside the main
   * thread, which reads the network, parses and stores meanwhile.
   */
  verifySignatures?: VerifySignatures
  /**
   * Called as a follow begins: a backfill is likely to follow, so a verifier that runs on threads
   * can start them while the author is being reached.
   */
  prepareVerification?: () => void
}

export interface ConnectedPeer {
  peerId: string
  remoteAddr: string
  direction: 'inbound' | 'outbound'
}

/** How a record reached this node. */
export type RecordSource = 'gossip' | 'sync'

/** A verified record and the peer it came from. */
interface Arrival {
  record: VerifiedRecord
  from: string
}

export interface MeshEvents {
  /** A record from the mesh that was newly stored (after `MeshRecords.ingest`). */
  record: CustomEvent<{ record: VerifiedRecord; from: string; via: RecordSource }>
  /** A gossip message the validator refused; the sender's gossipsub score pays for it. */
  'record:rejected': CustomEvent<{ from: string; topic: string; reason: string }>
  'peer:connect': CustomEvent<{ peerId: string; remoteAddr: string }>
  'peer:disconnect': CustomEvent<{ peerId: string }>
  /** A peer joined or left one of our topics (gossipsub subscription change). */
  'topic:peers': CustomEvent<{ peerId: string; topic: string; subscribed: boolean }>
  /** A peer entered or left our gossip mesh for a topic (it now gets forwarded records). */
  'topic:mesh': CustomEvent<{ peerId: string; topic: string; joined: boolean }>
  /** A sync exchange with one peer for one author finished (also when it stored nothing). */
  'sync:done': CustomEvent<{ peerId: string; author: string; stored: number; remoteHighest: number }>
}

export interface FollowResult {
  author: string
  /** Whether the author itself is connected after the search. */
  authorReached: boolean
  /** Other nodes the DHT named as holding the author's records (followers), connected or not. */
  providers: string[]
  /** Peers asked for the author's records. */
  peersAsked: number
  /** Records of the author newly stored while following (by the backfill, a sweep or gossip). */
  stored: number
  /** Highest sequence number of the author held locally afterwards. */
  highestSeq: number
}

export interface OwnHeadResult {
  /** Highest own sequence number after asking: sign the next record with this + 1. */
  highestSeq: number
  /** Own records newly stored from peers (a node restored from an old backup). */
  stored: number
  peersAsked: number
}

export interface Mesh extends TypedEventTarget<MeshEvents> {
  /** The node's peer id, which is also its author id. */
  readonly peerId: string
  start(): Promise<void>
  stop(): Promise<void>
  /** Full addresses others can dial, each ending in `/p2p/<peer id>`; empty before start. */
  multiaddrs(): string[]
  connectedPeers(): ConnectedPeer[]
  /** Gossipsub topics this node is subscribed to (its own and those of followed authors). */
  topics(): string[]
  /** Peers known to be subscribed to an author's topic (they get its records by gossip). */
  topicPeers(author: string): string[]
  /** Peers in this node's gossip mesh for an author's topic: those it forwards records to. */
  meshPeers(author: string): string[]
  /** Authors followed (not the node itself). */
  following(): string[]
  /**
   * Gossips a record the app has already stored and that this node authored. Never throws for
   * a lack of peers: sync delivers it later. Resolves with the peers it was sent to.
   */
  publish(record: VerifiedRecord): Promise<{ recipients: string[] }>
  /**
   * Subscribes to an author (peer id, or a multiaddr ending in /p2p/<id>), finds the author and
   * its other followers (known addresses, DHT), connects, and backfills. Idempotent.
   */
  follow(target: string): Promise<FollowResult>
  unfollow(author: string): Promise<void>
  /** Asks peers for this node's own records above the local highest seq, and stores them. */
  syncOwnHead(): Promise<OwnHeadResult>
  /** Pulls an author's missing records from connected peers; returns how many were stored. */
  syncAuthor(author: string): Promise<number>
  /** Dials a multiaddr (e.g. a `--join` given at run time); resolves with the peer id. */
  dial(address: string): Promise<string>
}

/** Gossipsub for meshes of a handful of peers; numbers explained in docs/parts/mesh.md. */
const GOSSIP_DEGREES = { D: 4, Dlo: 2, Dhi: 8, Dscore: 2, Dout: 1, Dlazy: 4 }

/**
 * Score parameters for each author topic: only P4 (invalid messages) counts. Mesh delivery
 * penalties (P3) are off: in a tiny mesh an author posts a few times a day, and silence is not
 * misbehaviour. One invalid record costs -10, two -40 (no more gossip to them), three -90
 * (graylisted: all their RPCs ignored); the counter decays by 1% a second (half in ~70 s).
 */
const TOPIC_SCORE = createTopicScoreParams({
  topicWeight: 1,
  timeInMeshWeight: 0,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 1,
  firstMessageDeliveriesWeight: 0,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 1,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 1000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.99,
})

/** Multicodec of the `/p2p/<peer id>` multiaddr component. */
const P2P_CODE = 0x01a5
/** Most remembered peers dialled at start, and most peers asked in one author sync. */
const MAX_START_DIALS = 16
const MAX_SYNC_PEERS = 6
/** Sweeps that pull an open gap from other peers than its author before it is given up. */
const MAX_GAP_TRIES = 3
/** One sync round pulls at most this many pages (of up to 256 records) from one peer per author. */
const MAX_PAGES_PER_ROUND = 40
/**
 * After a peer refused a sync as rate-limited, ask it again this much later rather than at the
 * next timer tick (a minute): its allowance refills within seconds, and a follower killed in the
 * middle of a backfill otherwise waited the whole minute to resume.
 */
const RATE_LIMITED_RETRY_MS = 2_000
/** Followed authors the timer tries to connect to, per tick. */
const MAX_AUTHOR_REDIALS = 4
/** Below this many connections, the timer redials remembered peers. */
const MIN_CONNECTIONS = 4
/**
 * Serving allowance per peer: 64 requests at once, then 16/s; 16384 records at once, then 4096/s.
 * Serving a record is a SQLite read with no crypto, and an answer is capped at 1 MiB, so this
 * lets a new follower take a 10,000-record feed in one burst (512/s made it wait 16 s). The
 * requests cover a whole round of 40 pages (32 cut a catch-up off for 2 s at page 36), and 16/s
 * pages of 256 are the records' refill.
 */
const ALLOWANCE = { requests: [64, 16], records: [16384, 4096] } as const
const MAX_ALLOWANCES = 1024

/** The part of kad-dht's routing table the mesh watches. */
interface RoutingTableEvents {
  readonly size: number
  addEventListener(type: 'peer:add', listener: () => void): void
  removeEventListener(type: 'peer:add', listener: () => void): void
}

type Services = { identify: unknown; ping: unknown; dht: KadDHT; pubsub: GossipSub }

class CapsuleMesh extends TypedEventEmitter<MeshEvents> implements Mesh {
  readonly peerId: string
  readonly #config: MeshConfig
  readonly #deps: MeshDeps
  #node: Libp2p<Services> | undefined
  readonly #followed = new Set<string>()
  readonly #decoded = new WeakMap<Message, VerifiedRecord>()
  readonly #allowances = new Map<string, PeerAllowance>()
  readonly #peerQueues = new Map<string, Promise<unknown>>()
  /** Peers with a sweep scheduled after a rate-limited refusal (one each). */
  readonly #retries = new Set<string>()
  readonly #authorSyncs = new Map<string, { run: Promise<number>; again: boolean; from?: number }>()
  /**
   * Gaps a gossiped record or a sync answer from a peer other than the author revealed (seqs above
   * `from` and below `to` missing), by author, that the pulls so far did not fill: the peers asked
   * may have lacked them too (a relay still catching up). Heads alone
   * would never show them again once newer records arrive, so sweeps pull from `from` until the
   * gap is filled, the author itself was asked (what it no longer serves was deleted), or
   * MAX_GAP_TRIES sweeps tried.
   */
  readonly #openGaps = new Map<string, { from: number; to: number; tries: number }>()
  readonly #provided = new Map<string, 'pending' | 'done' | 'failed'>()
  #timer: NodeJS.Timeout | undefined
  #initialDials: Promise<void> = Promise.resolve()
  #life = new AbortController()

  constructor(config: MeshConfig, deps: MeshDeps) {
    super()
    this.#config = config
    this.#deps = deps
    this.peerId = peerIdFromPrivateKey(config.privateKey).toString()
    for (const author of config.follows ?? []) {
      if (!isAuthorId(author)) throw new TypeError(`cannot follow "${author.slice(0, 80)}": not an author id`)
      if (author !== this.peerId) this.#followed.add(author)
    }
  }

  get #log(): Logger {
    return this.#deps.logger
  }

  #running(operation: string): Libp2p<Services> {
    if (this.#node === undefined) throw new MeshNotStartedError(operation)
    return this.#node
  }

  async start(): Promise<void> {
    if (this.#node !== undefined) return
    this.#life = new AbortController()
    const config = this.#config
    const allowPrivate = config.allowPrivateAddresses ?? false
    const node = await createLibp2p({
      privateKey: config.privateKey,
      addresses: { listen: config.listen ?? DEFAULT_LISTEN, announce: config.announce ?? [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        maxConnections: config.maxConnections ?? 64,
        allow: config.connectionAllow ?? [],
      },
      connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol: CAPSULE_DHT_PROTOCOL,
          // Every Capsule node serves the DHT: with a handful of nodes, a client-only node would
          // leave nobody to answer. (Auto mode would only switch on for public addresses.)
          clientMode: false,
          // Do not hold every query until the first self-query ends: with a dead peer in the
          // table that wait hit its 5 s timeout here. Queries wait for a non-empty routing table
          // in #dhtReady instead.
          allowQueryWithZeroPeers: true,
          peerInfoMapper: allowPrivate ? passthroughMapper : removePrivateAddressesMapper,
          // Provider records of followers are the way to reach an absent author: keep them as
          // long as the default (48 h) and let kad-dht re-provide them.
        }),
        pubsub: gossipsub({
          ...GOSSIP_DEGREES,
          // Records are signed and named by their hash already: a second signature per message
          // is redundant work (measured: about half the CPU). The validator checks everything.
          globalSignaturePolicy: 'StrictNoSign',
          // The record's binary CID names a message. Gossipsub names every copy it receives, so
          // its string form is Node's base64 (the default goes through multiformats, 2 % of a
          // follower's CPU).
          msgIdFn: (message) => recordCidBytes(message.data),
          msgIdToStrFn: (id) => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('base64'),
          // An author must be able to post with nobody listening; sync delivers it later.
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          // Own records go to every subscribed peer, not just the mesh: a young mesh (before a
          // heartbeat grafts) still gets them at once.
          floodPublish: true,
          fallbackToFloodsub: false,
          // A record is at most 8 KiB; one RPC may carry many for IWANT answers.
          maxInboundDataLength: 1024 * 1024,
          scoreParams: {
            IPColocationFactorWhitelist: new Set(config.ipColocationWhitelist ?? []),
          },
        }),
      },
    })
    this.#node = node
    try {
      await node.handle(SYNC_PROTOCOL, (stream, connection) => this.#serve(stream, connection.remotePeer), {
        // Sync runs one exchange at a time per peer; two covers a retry racing the old stream.
        maxInboundStreams: 2,
        maxOutboundStreams: 2,
      })
      const pubsub = node.services.pubsub
      pubsub.addEventListener('gossipsub:message', (event) => this.#onGossip(event.detail))
      for (const [type, joined] of [
        ['gossipsub:graft', true],
        ['gossipsub:prune', false],
      ] as const) {
        pubsub.addEventListener(type, (event) => {
          const { peerId, topic } = event.detail
          this.safeDispatchEvent('topic:mesh', { detail: { peerId, topic, joined } })
        })
      }
      pubsub.addEventListener('subscription-change', (event) => {
        const peerId = event.detail.peerId.toString()
        for (const { topic, subscribe } of event.detail.subscriptions)
          this.safeDispatchEvent('topic:peers', { detail: { peerId, topic, subscribed: subscribe } })
      })
      node.addEventListener('peer:connect', (event) => this.#onConnect(event.detail))
      node.addEventListener('peer:disconnect', (event) => {
        this.#peerQueues.delete(event.detail.toString())
        this.safeDispatchEvent('peer:disconnect', { detail: { peerId: event.detail.toString() } })
      })
      node.addEventListener('peer:identify', (event) => this.#onIdentify(event.detail))
      this.#watch(this.peerId)
      for (const author of this.#followed) this.#watch(author)
      // kad-dht answers a provider query with the addresses the peer store holds for each
      // provider, and libp2p keeps none for the node itself: without this, a follower would
      // never name itself as a holder of an author's records when asked directly.
      await node.peerStore.merge(node.peerId, {
        multiaddrs: node.getMultiaddrs().map((addr) => addr.decapsulateCode(P2P_CODE)),
      })
      this.#log.info('mesh started', { peerId: this.peerId, addresses: this.multiaddrs() })
      this.#initialDials = this.#dialStartPeers()
      for (const author of [this.peerId, ...this.#followed]) this.#provide(author)
      const interval = config.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS
      this.#timer = setInterval(() => this.#tick(), interval)
      this.#timer.unref()
    } catch (error) {
      await this.stop()
      throw error
    }
  }

  async stop(): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    this.#node = undefined
    clearInterval(this.#timer)
    this.#life.abort(new Error('the mesh is stopping'))
    await node.stop()
    this.#peerQueues.clear()
    this.#authorSyncs.clear()
    this.#log.info('mesh stopped', { peerId: this.peerId })
  }

  multiaddrs(): string[] {
    return this.#node?.getMultiaddrs().map((addr) => addr.toString()) ?? []
  }

  connectedPeers(): ConnectedPeer[] {
    const seen = new Map<string, ConnectedPeer>()
    for (const connection of this.#node?.getConnections() ?? []) {
      const peerId = connection.remotePeer.toString()
      if (!seen.has(peerId))
        seen.set(peerId, {
          peerId,
          remoteAddr: connection.remoteAddr.toString(),
          direction: connection.direction,
        })
    }
    return [...seen.values()]
  }

  topics(): string[] {
    return this.#node?.services.pubsub.getTopics() ?? []
  }

  topicPeers(author: string): string[] {
    return (
      this.#node?.services.pubsub.getSubscribers(authorTopic(author)).map((peer) => peer.toString()) ?? []
    )
  }

  meshPeers(author: string): string[] {
    const pubsub = this.#node?.services.pubsub as unknown as
      | { getMeshPeers(topic: string): string[] }
      | undefined
    return pubsub?.getMeshPeers(authorTopic(author)) ?? []
  }

  following(): string[] {
    return [...this.#followed]
  }

  async publish(record: VerifiedRecord): Promise<{ recipients: string[] }> {
    const node = this.#running('publish')
    if (record.body.author !== this.peerId)
      throw new TypeError('a node publishes only its own records; others arrive by gossip and sync')
    try {
      const result = await node.services.pubsub.publish(authorTopic(this.peerId), record.bytes)
      return { recipients: result.recipients.map((peer) => peer.toString()) }
    } catch (error) {
      // The record is stored already; sync will carry it. Gossip trouble is not the caller's.
      this.#log.warn('gossip publish failed; peers will get the record by sync', {
        id: record.id,
        error: (error as Error).message,
      })
      return { recipients: [] }
    }
  }

  async follow(target: string): Promise<FollowResult> {
    const node = this.#running('follow')
    const { author, multiaddrs } = parseFollowTarget(target)
    if (author === this.peerId) throw new TypeError('a node cannot follow itself')
    this.#deps.prepareVerification?.()
    if (!this.#followed.has(author)) {
      this.#followed.add(author)
      this.#watch(author)
      this.#provide(author)
    }
    // Connecting to a peer starts a sweep that may backfill before the pull below gets its turn
    // with that peer: count every record of the author stored while following.
    let stored = 0
    const count = (event: MeshEvents['record']) => {
      if (event.detail.record.body.author === author) stored++
    }
    this.addEventListener('record', count)
    try {
      // Search for the author and for other holders at once; stop searching as soon as any of
      // them is connected, since one holder is enough to backfill from.
      // The author itself is worth the whole budget (it publishes straight to its subscribers), so
      // only the search for other holders stops early.
      const budget = AbortSignal.any([
        AbortSignal.timeout(this.#config.findTimeoutMs ?? DEFAULT_FIND_TIMEOUT_MS),
        this.#life.signal,
      ])
      const search = new AbortController()
      const signal = AbortSignal.any([budget, search.signal])
      const reached = Promise.withResolvers<void>()
      const providers: string[] = []
      const authorId = peerIdFromString(author)
      const reachAuthor = async (): Promise<void> => {
        for (const address of multiaddrs) {
          try {
            await node.dial(multiaddr(address), { signal: budget })
            return reached.resolve()
          } catch (error) {
            this.#log.warn('could not dial the address given for the author', {
              address,
              error: (error as Error).message,
            })
          }
        }
        // By peer id: known addresses first, then a DHT peer lookup (which needs a routing table).
        if (!(await this.#knowsAddresses(authorId))) await this.#dhtReady(budget)
        try {
          await node.dial(authorId, { signal: budget })
        } catch (error) {
          if (budget.aborted) throw error
          // A young DHT may not lead to the author yet: walk towards its id (the walk learns the
          // addresses of the peers nearest to it, the author among them) and try once more.
          for await (const _ of node.peerRouting.getClosestPeers(authorId.toMultihash().bytes, {
            signal: budget,
          })) {
            // draining the query is the point
          }
          await node.dial(authorId, { signal: budget })
        }
        reached.resolve()
      }
      const findHolders = async (): Promise<void> => {
        const dials: Promise<unknown>[] = []
        try {
          await this.#dhtReady(signal)
          for await (const provider of node.contentRouting.findProviders(providerKey(author), { signal })) {
            const id = provider.id.toString()
            if (id === this.peerId || providers.includes(id)) continue
            if (provider.multiaddrs.length > 0)
              await node.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs })
            // The author provides its own key too: its addresses help reachAuthor, which dials it.
            if (id === author) continue
            providers.push(id)
            dials.push(node.dial(provider.id, { signal }).then(() => reached.resolve()))
            if (providers.length >= 8) break
          }
        } finally {
          // Also when the search is aborted: a dial still pending must not reject unhandled.
          await Promise.allSettled(dials)
        }
      }
      const reachFollowers = async (): Promise<void> => {
        await findHolders()
        // Nothing found: in a young or tiny DHT the routing tables (ours and our peers') may not
        // lead to the holders yet. Walk towards the key, where provider records live, and ask
        // again; a second time a second later, while new peers settle into the tables.
        for (let retry = 0; retry < 2 && providers.length === 0 && !signal.aborted; retry++) {
          if (retry > 0) await sleep(1000, undefined, { signal })
          for await (const _ of node.peerRouting.getClosestPeers(providerKey(author).multihash.bytes, {
            signal,
          })) {
            // draining the query fills the routing table
          }
          await findHolders()
        }
      }
      const logFailure = (what: string, stopped: AbortSignal) => (error: Error) => {
        if (!stopped.aborted || what === 'author')
          this.#log.info(`follow: could not reach the ${what}`, { author, error: error.message })
      }
      // If a follower answers first, the author dial goes on in the background: once connected,
      // identify triggers a sync with it anyway.
      const authorSearch = reachAuthor().catch(logFailure('author', budget))
      const holderSearch = reachFollowers().catch(logFailure('other holders', signal))
      await Promise.race([reached.promise, Promise.all([authorSearch, holderSearch])])
      search.abort()
      // Queued with each peer before identify ends, so the backfill goes ahead of the heads
      // request that identify's sweep would make first.
      const peers = this.#syncCandidates([author, ...providers])
      await this.#syncAuthorWith(author, peers)
      const result: FollowResult = {
        author,
        authorReached: node.getConnections(authorId).length > 0,
        providers,
        peersAsked: peers.length,
        stored,
        highestSeq: this.#deps.records.highestSeq(author),
      }
      this.#log.info('followed', { ...result, providers: providers.length })
      return result
    } finally {
      this.removeEventListener('record', count)
    }
  }

  async unfollow(author: string): Promise<void> {
    const node = this.#running('unfollow')
    if (!this.#followed.delete(author)) return
    node.services.pubsub.unsubscribe(authorTopic(author))
    this.#provided.delete(author)
    this.#openGaps.delete(author)
    await node.services.dht.cancelReprovide(providerKey(author)).catch(() => undefined)
  }

  async syncOwnHead(): Promise<OwnHeadResult> {
    this.#running('syncOwnHead')
    await this.#initialDials
    const peers = this.#syncCandidates([])
    const stored = await this.#syncAuthorWith(this.peerId, peers)
    return { highestSeq: this.#deps.records.highestSeq(this.peerId), stored, peersAsked: peers.length }
  }

  async syncAuthor(author: string): Promise<number> {
    this.#running('syncAuthor')
    return this.#syncAuthorSoon(author, [])
  }

  async dial(address: string): Promise<string> {
    const node = this.#running('dial')
    const connection = await node.dial(multiaddr(address), { signal: AbortSignal.timeout(10_000) })
    return connection.remotePeer.toString()
  }

  // ---- topics and gossip ----

  /** Validator, scoring and subscription for an author's topic. */
  #watch(author: string): void {
    const pubsub = this.#running('watch').services.pubsub
    const topic = authorTopic(author)
    pubsub.topicValidators.set(topic, (peer, message) => this.#validate(author, peer, message))
    // Topics are per author, so their score parameters are added as topics are joined.
    const score = (pubsub as unknown as { score: { params: PeerScoreParams } }).score
    score.params.topics[topic] = TOPIC_SCORE
    pubsub.subscribe(topic)
  }

  #validate(author: string, peer: PeerId, message: Message): TopicValidatorResult {
    const receivedAt = acceptedChannel.hasSubscribers ? traceNow() : 0
    let reason: string
    try {
      const record = decodeRecord(message.data)
      // A reshare is a record of the resharer, so this also admits reshares by `author`; the
      // embedded original was verified by decodeRecord.
      if (record.body.author === author) {
        this.#decoded.set(message, record)
        if (acceptedChannel.hasSubscribers)
          acceptedChannel.publish({ node: this.peerId, record, receivedAt } satisfies AcceptedTrace)
        return TopicValidatorResult.Accept
      }
      reason = 'wrong-author'
    } catch (error) {
      if (!(error instanceof InvalidRecordError)) throw error
      reason = error.reason
    }
    this.#log.warn('rejected a gossiped record', { from: peer.toString(), topic: message.topic, reason })
    this.safeDispatchEvent('record:rejected', {
      detail: { from: peer.toString(), topic: message.topic, reason },
    })
    return TopicValidatorResult.Reject
  }

  /**
   * Gossipsub forwards a message only after its listeners return, so the record is stored here,
   * before this node passes it on: a received record is committed without an fsync
   * (`putReceived`), a fraction of a millisecond, about what the forward to the mesh costs, and
   * it is in this node's store first. Stored after the forward instead (from a microtask), the
   * propagation benchmark's delivery as processes at N = 10 took p99 20 to 22 ms, against 17
   * this way (docs/PERFORMANCE.md, finding 1).
   */
  #onGossip({ propagationSource, msg }: GossipsubMessage): void {
    const author = topicAuthor(msg.topic)
    const record = this.#decoded.get(msg)
    if (author === undefined || record === undefined) return
    if (author !== this.peerId && !this.#followed.has(author)) return
    const from = propagationSource.toString()
    // A gap: records between what we hold and this one were missed. Ask the sender for them.
    const held = this.#deps.records.highestSeq(author)
    if (record.body.seq > held + 1) {
      this.#openGap(author, held, record.body.seq)
      void this.#syncAuthorSoon(author, [from], held).then(() => this.#settleGap(author))
    }
    this.#ingest([{ record, from }], 'gossip')
  }

  #ingest(arrivals: Arrival[], via: RecordSource): VerifiedRecord[] {
    if (arrivals.length === 0) return []
    let stored: VerifiedRecord[]
    try {
      stored = this.#deps.records.ingest(arrivals.map((arrival) => arrival.record))
    } catch (error) {
      const from = [...new Set(arrivals.map((arrival) => arrival.from))]
      this.#log.error('could not store records from the mesh', { from, error: (error as Error).message })
      return []
    }
    if (stored.length > 0 && storedChannel.hasSubscribers)
      storedChannel.publish({ node: this.peerId, records: stored, via } satisfies StoredTrace)
    const senders = new Map(arrivals.map(({ record, from }) => [record.id, from]))
    for (const record of stored)
      this.safeDispatchEvent('record', { detail: { record, from: senders.get(record.id) ?? '', via } })
    return stored
  }

  // ---- peers ----

  #onConnect(peer: PeerId): void {
    const peerId = peer.toString()
    const connection = this.#node?.getConnections(peer)[0]
    this.safeDispatchEvent('peer:connect', {
      detail: { peerId, remoteAddr: connection?.remoteAddr.toString() ?? '' },
    })
  }

  #onIdentify(result: IdentifyResult): void {
    if (!result.protocols.includes(SYNC_PROTOCOL)) return
    const peerId = result.peerId.toString()
    const allowPrivate = this.#config.allowPrivateAddresses ?? false
    const seen = [...result.listenAddrs]
    if (result.connection.direction === 'outbound') seen.push(result.connection.remoteAddr)
    const addrs = dialableAddresses(seen, allowPrivate)
    if (addrs.length > 0) {
      try {
        this.#deps.peers.rememberPeer(peerId, addrs)
      } catch (error) {
        this.#log.warn('could not remember a peer', { peerId, error: (error as Error).message })
      }
    }
    // Reconcile with the new peer: what does it hold of us and of those we follow?
    void this.#sweep(peerId)
  }

  async #dialStartPeers(): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    const signal = AbortSignal.any([AbortSignal.timeout(10_000), this.#life.signal])
    const dials: Promise<unknown>[] = []
    for (const address of this.#config.join ?? []) {
      dials.push(
        node.dial(multiaddr(address), { signal }).catch((error: Error) => {
          this.#log.warn('could not reach a join address', { address, error: error.message })
        }),
      )
    }
    let known: { peerId: string; multiaddrs: string[] }[] = []
    try {
      known = this.#deps.peers.knownPeers()
    } catch (error) {
      this.#log.warn('could not read remembered peers', { error: (error as Error).message })
    }
    for (const peer of known.filter((p) => p.peerId !== this.peerId).slice(0, MAX_START_DIALS))
      dials.push(this.#dialKnown(node, peer, signal))
    await Promise.allSettled(dials)
  }

  async #dialKnown(
    node: Libp2p<Services>,
    peer: { peerId: string; multiaddrs: string[] },
    signal: AbortSignal,
  ): Promise<void> {
    try {
      const id = peerIdFromString(peer.peerId)
      await node.peerStore.merge(id, {
        multiaddrs: peer.multiaddrs.map((address) => multiaddr(address)),
        // Remembered Capsule peers are worth reconnecting to when a connection drops.
        tags: { [KEEP_ALIVE]: { value: 1 } },
      })
      await node.dial(id, { signal })
    } catch (error) {
      this.#log.warn('could not reach a remembered peer', {
        peerId: peer.peerId,
        error: (error as Error).message,
      })
    }
  }

  /** Connected peers to sync with, `first` (when connected) at the front. */
  #syncCandidates(first: string[]): string[] {
    const connected = this.connectedPeers().map((peer) => peer.peerId)
    return [...new Set([...first.filter((id) => connected.includes(id)), ...connected])].slice(
      0,
      MAX_SYNC_PEERS,
    )
  }

  /** Whether a connected peer speaks the sync protocol, waiting up to 5 s for identify. */
  async #speaksSync(peerId: string): Promise<boolean> {
    const node = this.#node
    if (node === undefined) return false
    const id = peerIdFromString(peerId)
    try {
      const peer = await node.peerStore.get(id)
      if (peer.protocols.length > 0) return peer.protocols.includes(SYNC_PROTOCOL)
    } catch {
      // not in the peer store yet
    }
    return new Promise((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer)
        node.removeEventListener('peer:identify', onIdentify)
        resolve(result)
      }
      const onIdentify = (event: CustomEvent<IdentifyResult>) => {
        if (event.detail.peerId.equals(id)) done(event.detail.protocols.includes(SYNC_PROTOCOL))
      }
      const timer = setTimeout(() => done(false), 5_000)
      node.addEventListener('peer:identify', onIdentify)
    })
  }

  #tick(): void {
    const node = this.#node
    if (node === undefined) return
    for (const peerId of this.#syncCandidates([])) void this.#sweep(peerId)
    if (this.connectedPeers().length < MIN_CONNECTIONS) {
      const connected = new Set(this.connectedPeers().map((peer) => peer.peerId))
      let known: { peerId: string; multiaddrs: string[] }[] = []
      try {
        known = this.#deps.peers.knownPeers()
      } catch {
        known = []
      }
      const signal = AbortSignal.any([AbortSignal.timeout(10_000), this.#life.signal])
      for (const peer of known
        .filter((p) => p.peerId !== this.peerId && !connected.has(p.peerId))
        .slice(0, MIN_CONNECTIONS))
        void this.#dialKnown(node, peer, signal)
    }
    for (const [author, state] of this.#provided) if (state === 'failed') this.#provide(author)
    // Followed authors we are not connected to: their posts come fastest from them directly.
    const connected = new Set(this.connectedPeers().map((peer) => peer.peerId))
    const signal = AbortSignal.any([AbortSignal.timeout(10_000), this.#life.signal])
    for (const author of [...this.#followed].filter((a) => !connected.has(a)).slice(0, MAX_AUTHOR_REDIALS))
      void node.dial(peerIdFromString(author), { signal }).catch(() => undefined)
  }

  async #knowsAddresses(peer: PeerId): Promise<boolean> {
    try {
      return (await this.#running('dial').peerStore.get(peer)).addresses.length > 0
    } catch {
      return false
    }
  }

  /** Resolves once the DHT routing table holds a peer (queries on an empty one find nothing). */
  async #dhtReady(signal: AbortSignal): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    const table = (node.services.dht as unknown as { routingTable: RoutingTableEvents }).routingTable
    if (table.size > 0) return
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        table.removeEventListener('peer:add', done)
        signal.removeEventListener('abort', done)
        if (signal.aborted) reject(signal.reason)
        else resolve()
      }
      table.addEventListener('peer:add', done)
      signal.addEventListener('abort', done)
    })
  }

  /** Announces in the DHT that this node holds `author`'s records. In the background. */
  #provide(author: string): void {
    const node = this.#node
    if (node === undefined || this.#provided.get(author) === 'pending') return
    this.#provided.set(author, 'pending')
    const signal = AbortSignal.any([AbortSignal.timeout(60_000), this.#life.signal])
    this.#dhtReady(signal)
      .then(() => node.contentRouting.provide(providerKey(author), { signal }))
      .then(() => {
        if (this.#provided.has(author)) this.#provided.set(author, 'done')
      })
      .catch((error: Error) => {
        if (this.#provided.has(author)) this.#provided.set(author, 'failed')
        if (!this.#life.signal.aborted)
          this.#log.warn('could not announce in the DHT; retrying on the next sync tick', {
            author,
            error: error.message,
          })
      })
  }

  // ---- sync ----

  #serve(stream: Parameters<typeof serveSync>[0], peer: PeerId): void {
    const peerId = peer.toString()
    let allowance = this.#allowances.get(peerId)
    if (allowance === undefined) {
      if (this.#allowances.size >= MAX_ALLOWANCES) this.#allowances.clear()
      allowance = {
        requests: new TokenBucket(...ALLOWANCE.requests),
        records: new TokenBucket(...ALLOWANCE.records),
      }
      this.#allowances.set(peerId, allowance)
    }
    serveSync(stream, { records: this.#deps.records, allowance }).then(
      (outcome) => {
        if (outcome.op === 'refused') this.#log.warn('refused a sync request', { peerId, ...outcome })
      },
      (error: Error) => this.#log.warn('a sync answer failed', { peerId, error: error.message }),
    )
  }

  /**
   * Runs a sync exchange in the peer's queue if the peer speaks the protocol (a fresh connection
   * may wait briefly for identify); else answers `otherwise`.
   */
  #withSyncPeer<T>(peerId: string, work: () => Promise<T>, otherwise: T): Promise<T> {
    return this.#withPeer(peerId, async () => ((await this.#speaksSync(peerId)) ? work() : otherwise))
  }

  /** Runs sync exchanges with one peer one at a time, so a peer never has many of ours open. */
  #withPeer<T>(peerId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#peerQueues.get(peerId) ?? Promise.resolve()
    const next = previous.then(work, work)
    const settled = next.catch(() => undefined)
    this.#peerQueues.set(peerId, settled)
    void settled.then(() => {
      if (this.#peerQueues.get(peerId) === settled) this.#peerQueues.delete(peerId)
    })
    return next
  }

  async #openSync(peerId: string) {
    const node = this.#running('sync')
    const signal = AbortSignal.any([AbortSignal.timeout(10_000), this.#life.signal])
    return node.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal })
  }

  /** Asks a peer for the heads of us and everyone we follow, then pulls what is newer. */
  #sweep(peerId: string): Promise<void> {
    return this.#withSyncPeer(
      peerId,
      async () => {
        const authors = [this.peerId, ...this.#followed]
        for (let i = 0; i < authors.length; i += SYNC_MAX_HEADS) {
          const chunk = authors.slice(i, i + SYNC_MAX_HEADS)
          let heads: number[]
          try {
            heads = await requestHeads(await this.#openSync(peerId), chunk)
          } catch (error) {
            this.#syncFailed(peerId, 'heads', error)
            return
          }
          for (const [j, author] of chunk.entries()) {
            const head = heads[j] ?? 0
            const gap = this.#openGaps.get(author)
            if (gap !== undefined && head > gap.from) {
              await this.#pull(peerId, author, gap.from, gap.to)
              this.#settleGap(author, peerId)
            } else if (head > this.#deps.records.highestSeq(author)) await this.#pull(peerId, author)
          }
        }
      },
      undefined,
    ).catch(() => undefined)
  }

  /** Notes that `author`'s seqs above `from` and below `to` are missing, merged with a gap open. */
  #openGap(author: string, from: number, to: number): void {
    const open = this.#openGaps.get(author)
    this.#openGaps.set(author, {
      from: Math.min(from, open?.from ?? from),
      to: Math.max(to, open?.to ?? to),
      tries: open?.tries ?? 0,
    })
  }

  /**
   * After a pull meant for an open gap: closes it once every seq in it is held, or once the author
   * itself was the peer `asked`, or after MAX_GAP_TRIES sweeps.
   */
  #settleGap(author: string, asked?: string): void {
    const gap = this.#openGaps.get(author)
    if (gap === undefined) return
    const held = new Set<number>()
    for (const bytes of this.#deps.records.recordsAfter(author, gap.from, gap.to - gap.from)) {
      const seq = parseRecord(bytes, { now: Number.POSITIVE_INFINITY }).claimed.seq
      if (seq < gap.to) held.add(seq)
    }
    const filled = held.size >= gap.to - gap.from - 1
    if (asked !== undefined) gap.tries += 1
    if (filled || asked === author || gap.tries >= MAX_GAP_TRIES) this.#openGaps.delete(author)
  }

  #syncFailed(peerId: string, what: string, error: unknown): void {
    if (this.#life.signal.aborted) return
    const fields = { peerId, what, error: (error as Error).message }
    if (error instanceof SyncRefusedError && error.reason === 'rate-limited') {
      this.#log.info('sync deferred', fields)
      this.#retryLater(peerId)
    } else this.#log.warn('sync with a peer failed', fields)
  }

  #retryLater(peerId: string): void {
    if (this.#retries.has(peerId)) return
    this.#retries.add(peerId)
    setTimeout(() => {
      this.#retries.delete(peerId)
      if (this.#node !== undefined && !this.#life.signal.aborted) void this.#sweep(peerId)
    }, RATE_LIMITED_RETRY_MS).unref()
  }

  /**
   * Pulls `author`'s records above `from` (default: our highest) from one peer, up to the page
   * that reaches `until` (default: all), at most MAX_PAGES_PER_ROUND pages. One request brings many
   * pages; a page's signatures are checked and it is stored while the next arrives. An answer that
   * ends with more to come (the peer's allowance ran out, or it answers one page a request) is
   * followed by another request. Returns how many records were newly stored.
   */
  async #pull(peerId: string, author: string, from?: number, until?: number): Promise<number> {
    let stored = 0
    let after = from ?? this.#deps.records.highestSeq(author)
    let remoteHighest = 0
    let storing: Promise<boolean> = Promise.resolve(true)
    let pages = 0
    let more = true
    let failed = false
    while (more && !failed && pages < MAX_PAGES_PER_ROUND) {
      more = false
      const wanted = (MAX_PAGES_PER_ROUND - pages) * SYNC_PAGE_RECORDS
      const limit = until === undefined ? wanted : Math.max(1, Math.min(wanted, until - after))
      try {
        for await (const fetched of fetchPages(await this.#openSync(peerId), { author, after, limit })) {
          pages++
          if (!(await storing)) {
            failed = true
            break
          }
          // A peer other than the author that skips seqs is missing them (or they were deleted):
          // heads will not show that again, so the gap is remembered and asked for elsewhere.
          if (peerId !== author) {
            let previous = after
            for (const { claimed } of fetched.records) {
              if (claimed.seq > previous + 1) this.#openGap(author, previous, claimed.seq)
              previous = Math.max(previous, claimed.seq)
            }
          }
          remoteHighest = fetched.highest
          storing = this.#verifyAndStore(fetched, peerId).then((result) => {
            stored += result.stored
            return result.complete
          })
          failed = fetched.fault !== undefined
          const last = fetched.records.at(-1)?.claimed.seq
          more = last !== undefined && last < fetched.highest && (until === undefined || last < until)
          // As the responder pages (duplicates it sends again are skipped by ingest).
          if (last !== undefined) after = continueAfter(after, last)
        }
      } catch (error) {
        this.#syncFailed(peerId, 'records', error)
        break
      }
    }
    const complete = await storing
    this.safeDispatchEvent('sync:done', { detail: { peerId, author, stored, remoteHighest } })
    // The round hit its page cap with more to come: queue the next round behind whatever else
    // waits for this peer, rather than leaving the rest to the next timer tick. Only after
    // progress, so a peer cannot keep us asking.
    if (more && !failed && complete && stored > 0 && this.#node !== undefined)
      void this.#withPeer(peerId, () => this.#pull(peerId, author)).catch(() => undefined)
    return stored
  }

  /** Checks a fetched page's signatures and stores what verified; `complete` if all did. */
  async #verifyAndStore(
    fetched: FetchedRecords,
    peerId: string,
  ): Promise<{ stored: number; complete: boolean }> {
    let answer: Awaited<ReturnType<typeof verifyFetched>>
    try {
      answer = await verifyFetched(fetched, this.#deps.verifySignatures)
    } catch (error) {
      this.#syncFailed(peerId, 'records', error)
      return { stored: 0, complete: false }
    }
    const stored = this.#ingest(
      answer.records.map((record) => ({ record, from: peerId })),
      'sync',
    ).length
    if (answer.fault !== undefined) this.#syncFailed(peerId, 'records', answer.fault)
    return { stored, complete: answer.fault === undefined }
  }

  /** Pulls an author's records (above `from`, default our highest) from the given peers in order. */
  async #syncAuthorWith(author: string, peers: string[], from?: number): Promise<number> {
    let stored = 0
    for (const peerId of peers)
      stored += await this.#withSyncPeer(peerId, () => this.#pull(peerId, author, from), 0)
    return stored
  }

  /**
   * Author sync with coalescing: a request during a running sync runs it once more after, from
   * the lowest starting point asked for. `from` is where a gap starts (default: our highest).
   */
  #syncAuthorSoon(author: string, preferred: string[], from?: number): Promise<number> {
    const lowest = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : Math.min(a, b))
    const running = this.#authorSyncs.get(author)
    if (running !== undefined) {
      running.again = true
      running.from = lowest(running.from, from)
      return running.run
    }
    const state: { run: Promise<number>; again: boolean; from?: number } = {
      run: Promise.resolve(0),
      again: false,
      from,
    }
    state.run = (async () => {
      let stored = 0
      do {
        state.again = false
        const start = state.from
        state.from = undefined
        stored += await this.#syncAuthorWith(author, this.#syncCandidates([...preferred, author]), start)
      } while (state.again && this.#node !== undefined)
      return stored
    })().finally(() => this.#authorSyncs.delete(author))
    this.#authorSyncs.set(author, state)
    return state.run
  }
}

/**
 * Creates the node's mesh: a libp2p 3 node (TCP, Noise, Yamux, identify, ping, Kademlia DHT in
 * server mode, gossipsub) with the Capsule sync protocol. Nothing runs until `start()`.
 */
export function createMesh(config: MeshConfig, deps: MeshDeps): Mesh {
  return new CapsuleMesh(config, deps)
}
