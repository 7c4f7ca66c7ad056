import { createSignaturePool } from '@capsule/core'
import { createMesh, type Mesh } from '@capsule/mesh'
import { certificateStoreOnSettings, createSite, type Site, type SiteConfig } from '@capsule/site'
import { SocketServer } from '@capsule/socket-api'
import type { Store } from '@capsule/store'
import type { Home } from '../home.js'
import type { Identity } from '../identity.js'
import type { Logger } from '../logger.js'
import { apiRoutes, mapDomainError } from './api-routes.js'
import { CapsuleNode } from './capsule-node.js'
import { compactAfterBackfill } from './compact-after-backfill.js'
import { siteDataOver } from './site-data.js'

export interface DaemonConfig {
  home: Home
  listen?: string[]
  announce: string[]
  join: string[]
  /** Accept loopback and LAN addresses from peers, and many peers on one IP (a LAN mesh, tests). */
  privateNetwork: boolean
  site: SiteConfig
  /** How `follow <domain>` resolves names; tests point it at their own DNS server. */
  resolve?: (hostname: string) => Promise<string[]>
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
  /** The site's public URL once it serves. */
  #siteUrl: string | undefined

  private constructor(
    readonly node: CapsuleNode,
    readonly mesh: Mesh,
    readonly site: Site,
    readonly logger: Logger,
  ) {}

  static async start(
    config: DaemonConfig,
    store: Store,
    identity: Identity,
    logger: Logger & { child(name: string): Logger },
  ): Promise<Daemon> {
    const signatures = createSignaturePool()
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
        verifySignatures: (checks) => signatures.verify(checks),
        prepareVerification: () => void signatures.start(),
      },
    )
    compactAfterBackfill(mesh)
    const node = new CapsuleNode(store, identity, mesh, logger.child('node'), config.resolve)
    const site = createSite(config.site, {
      data: siteDataOver(store, identity.peerId, () => mesh.multiaddrs()),
      certificates: certificateStoreOnSettings(store.settings),
      logger: logger.child('site'),
    })
    const daemon = new Daemon(node, mesh, site, logger)
    daemon.#stack.push(() => store.close())
    daemon.#stack.push(() => signatures.close())
    try {
      // The socket first: it refuses to start when another daemon serves this home.
      const socket = new SocketServer({
        path: config.home.socketPath,
        routes: apiRoutes(node, mesh, () => daemon.#siteUrl),
        logger: logger.child('socket'),
        mapError: mapDomainError,
      })
      await socket.start()
      daemon.#stack.push(() => socket.stop())
      await mesh.start()
      daemon.#stack.push(() => mesh.stop())
      // Not awaited: the node is ready at once, and signing waits for the answer instead.
      node.signAfter(mesh.syncOwnHead())
      await daemon.#startSite(config.site)
    } catch (error) {
      await daemon.stop()
      throw error
    }
    return daemon
  }

  /**
   * The site runs beside the mesh: when it cannot listen (a privileged port, a port in use) the
   * node says why and keeps serving the mesh. Certificate trouble is retried by the site itself.
   */
  async #startSite(config: SiteConfig): Promise<void> {
    const log = this.logger
    this.site.on('certificate', ({ info, reason }) => log.info(`certificate ${reason}`, { ...info }))
    this.site.on('certificate-error', ({ error, retryAt }) =>
      log.warn(`could not get a certificate: ${error.message}`, {
        code: error.code,
        retryAt: new Date(retryAt).toISOString(),
      }),
    )
    try {
      await this.site.start()
    } catch (error) {
      log.error(`the site is not running: ${(error as Error).message}`)
      return
    }
    this.#stack.push(() => this.site.stop())
    this.#siteUrl = this.site.url
    // Without a domain the site itself says it serves plain HTTP; with one, announce it.
    if (config.domain !== undefined) {
      const port = this.site.addresses().https?.port
      const siteUrl = `https://${config.domain}${port === undefined || port === 443 ? '' : `:${port}`}/`
      this.#siteUrl = siteUrl
      log.info('site started', { url: siteUrl })
      // Followers find the site through the signed profile, and check the site against it.
      await this.node.announceSite(siteUrl)
    }
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
