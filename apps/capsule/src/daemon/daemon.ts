import { createMesh, type Mesh } from '@capsule/mesh'
import { SocketServer } from '@capsule/socket-api'
import type { Store } from '@capsule/store'
import type { Home } from '../home.js'
import type { Identity } from '../identity.js'
import type { Logger } from '../logger.js'
import { apiRoutes, mapDomainError } from './api-routes.js'
import { CapsuleNode } from './capsule-node.js'

export interface DaemonConfig {
  home: Home
  listen?: string[]
  announce: string[]
  join: string[]
  /** Accept loopback and LAN addresses from peers, and many peers on one IP (a LAN mesh, tests). */
  privateNetwork: boolean
}

/** Loopback and RFC 1918 ranges, for a mesh that lives on one machine or one LAN. */
const PRIVATE_RANGES = [
  '/ip4/127.0.0.0/ipcidr/8',
  '/ip4/10.0.0.0/ipcidr/8',
  '/ip4/172.16.0.0/ipcidr/12',
  '/ip4/192.168.0.0/ipcidr/16',
]

/**
 * One running node: the store, the mesh and the socket API, started in that order and stopped
 * in reverse. Owns none of the policy; it wires the packages together.
 */
export class Daemon {
  readonly #stack: (() => Promise<void> | void)[] = []

  private constructor(
    readonly node: CapsuleNode,
    readonly mesh: Mesh,
    readonly logger: Logger,
  ) {}

  static async start(
    config: DaemonConfig,
    store: Store,
    identity: Identity,
    logger: Logger & { child(name: string): Logger },
  ): Promise<Daemon> {
    const mesh = createMesh(
      {
        privateKey: identity.privateKey,
        ...(config.listen ? { listen: config.listen } : {}),
        announce: config.announce,
        join: config.join,
        follows: store.follows.list().map((follow) => follow.author),
        ...(config.privateNetwork
          ? {
              allowPrivateAddresses: true,
              ipColocationWhitelist: ['127.0.0.1'],
              connectionAllow: PRIVATE_RANGES,
            }
          : {}),
      },
      {
        records: {
          highestSeq: (author) => store.records.highestSeq(author),
          recordsAfter: (author, afterSeq, limit) => store.records.bytesAfter(author, afterSeq, limit),
          ingest: (records) => node.accept(records, 'mesh'),
        },
        peers: {
          rememberPeer: (peerId, multiaddrs) => store.peers.remember(peerId, multiaddrs),
          knownPeers: () => store.peers.list(),
        },
        logger: logger.child('mesh'),
      },
    )
    const node = new CapsuleNode(store, identity, mesh, logger.child('node'))
    const daemon = new Daemon(node, mesh, logger)
    daemon.#stack.push(() => store.close())
    try {
      // The socket first: it refuses to start when another daemon serves this home.
      const socket = new SocketServer({
        path: config.home.socketPath,
        routes: apiRoutes(node, mesh),
        logger: logger.child('socket'),
        mapError: mapDomainError,
      })
      await socket.start()
      daemon.#stack.push(() => socket.stop())
      await mesh.start()
      daemon.#stack.push(() => mesh.stop())
      await mesh.syncOwnHead()
    } catch (error) {
      await daemon.stop()
      throw error
    }
    return daemon
  }

  async stop(): Promise<void> {
    while (this.#stack.length > 0) {
      const stop = this.#stack.pop()
      try {
        await stop?.()
      } catch (error) {
        this.logger.warn('error while stopping', { error: String(error) })
      }
    }
  }
}
