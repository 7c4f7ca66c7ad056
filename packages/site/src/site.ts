import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { type CertificateEvents, CertificateManager, type CertificateStatus } from './certificates.js'
import {
  DEFAULT_FEED_SIZE,
  DEFAULT_HTTP_PORT,
  DEFAULT_HTTPS_PORT,
  DEFAULT_PAGE_SIZE,
  DEFAULT_RENEWAL_CHECK_INTERVAL_MS,
  DEFAULT_RETRY,
  DEFAULT_SERVER_LIMITS,
  LETS_ENCRYPT_PRODUCTION,
  type ServerLimits,
  type SiteConfig,
} from './config.js'
import { createRequestHandler, securityHeaders } from './handler.js'
import type { CertificateStore, Logger, SiteData } from './interfaces.js'
import { systemResolve } from './preflight.js'

export interface SiteDeps {
  data: SiteData
  certificates: CertificateStore
  logger: Logger
}

export interface SiteAddresses {
  /** The plain HTTP listener: the site itself without a domain; challenges and redirects with one. */
  http?: AddressInfo
  /** The HTTPS listener, with a domain only. */
  https?: AddressInfo
}

export type SiteEvents = CertificateEvents

/** The owner's public site. With a domain, it also keeps its own certificate. */
export interface Site extends EventEmitter<SiteEvents> {
  start(): Promise<void>
  stop(): Promise<void>
  /** The canonical URL with a trailing slash: https once a certificate is in service, http before. */
  readonly url: string
  addresses(): SiteAddresses
  /** Certificate state with a domain; undefined without one. */
  certificateStatus(): CertificateStatus | undefined
  /** Checks the certificate now (what the timer does); resolves when that check (and any order) ends. */
  checkCertificate(): Promise<void>
}

/** Thrown by start() when a port cannot be bound. */
export class SiteListenError extends Error {
  override readonly name = 'SiteListenError'
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/'
const MAX_CHALLENGES = 64

function boundServer<S extends http.Server>(server: S, limits: ServerLimits): S {
  server.headersTimeout = limits.headersTimeoutMs
  server.requestTimeout = limits.requestTimeoutMs
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxConnections = limits.maxConnections
  // Idle sockets (say, opened and never written to) are closed too.
  server.setTimeout(limits.requestTimeoutMs * 2)
  return server
}

async function listen(
  server: http.Server,
  port: number,
  host: string | undefined,
  what: string,
): Promise<void> {
  server.listen(port, host)
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))])
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ERROR'
    const where = `${host ?? 'all interfaces'} port ${port}`
    const hint =
      code === 'EADDRINUSE'
        ? `another program already listens on ${where}; stop it or choose another port`
        : code === 'EACCES'
          ? `this user may not listen on ${where}; ports below 1024 need privileges (for example: setcap cap_net_bind_service=+ep on the capsule binary)`
          : code === 'EADDRNOTAVAIL'
            ? `${host} is not an address of this machine`
            : (error as Error).message
    throw new SiteListenError(code, `The site cannot serve ${what}: ${hint}.`)
  }
}

function portSuffix(port: number, standard: number): string {
  return port === standard ? '' : `:${port}`
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

class SiteImpl extends EventEmitter<SiteEvents> implements Site {
  readonly #config: SiteConfig
  readonly #deps: SiteDeps
  readonly #limits: ServerLimits
  readonly #challenges = new Map<string, string>()
  #http: http.Server | undefined
  #https: https.Server | undefined
  #manager: CertificateManager | undefined

  constructor(config: SiteConfig, deps: SiteDeps) {
    super()
    this.#config = config
    this.#deps = deps
    this.#limits = { ...DEFAULT_SERVER_LIMITS, ...config.limits }
    if (
      config.domain !== undefined &&
      !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(
        config.domain,
      )
    ) {
      throw new TypeError(`"${config.domain.slice(0, 80)}" is not a domain name`)
    }
  }

  get #domain(): string | undefined {
    return this.#config.domain?.toLowerCase()
  }

  get url(): string {
    const domain = this.#domain
    const httpPort = this.addresses().http?.port ?? this.#config.httpPort ?? DEFAULT_HTTP_PORT
    if (domain === undefined) {
      const host = this.#config.siteHost ?? '127.0.0.1'
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
      return `http://${hostForUrl(shown)}${portSuffix(httpPort, 80)}/`
    }
    if (this.#manager?.active) {
      const httpsPort = this.addresses().https?.port ?? this.#config.httpsPort ?? DEFAULT_HTTPS_PORT
      return `https://${domain}${portSuffix(httpsPort, 443)}/`
    }
    return `http://${domain}${portSuffix(httpPort, 80)}/`
  }

  addresses(): SiteAddresses {
    const address = (server: http.Server | undefined) => {
      const a = server?.address()
      return a && typeof a === 'object' ? a : undefined
    }
    const httpAddress = address(this.#http)
    const httpsAddress = address(this.#https)
    return { ...(httpAddress ? { http: httpAddress } : {}), ...(httpsAddress ? { https: httpsAddress } : {}) }
  }

  certificateStatus(): CertificateStatus | undefined {
    return this.#manager?.status()
  }

  checkCertificate(): Promise<void> {
    return this.#manager?.check() ?? Promise.resolve()
  }

  #serveToken = (token: string, content: string): (() => void) => {
    if (this.#challenges.size >= MAX_CHALLENGES) {
      const oldest = this.#challenges.keys().next().value
      if (oldest !== undefined) this.#challenges.delete(oldest)
    }
    this.#challenges.set(token, content)
    return () => {
      if (this.#challenges.get(token) === content) this.#challenges.delete(token)
    }
  }

  async start(): Promise<void> {
    const { data, logger } = this.#deps
    const config = this.#config
    const domain = this.#domain
    const handle = createRequestHandler({
      data,
      logger,
      domain,
      siteUrl: () => this.url,
      pageSize: config.pageSize ?? DEFAULT_PAGE_SIZE,
      feedSize: config.feedSize ?? DEFAULT_FEED_SIZE,
    })
    const serverOptions = {
      maxHeaderSize: this.#limits.maxHeaderBytes,
      headersTimeout: this.#limits.headersTimeoutMs,
      requestTimeout: this.#limits.requestTimeoutMs,
      // How often the two timeouts above are enforced (Node's default is every 30 s).
      connectionsCheckingInterval: Math.min(1000, this.#limits.headersTimeoutMs),
    }
    const host = config.siteHost ?? (domain === undefined ? '127.0.0.1' : undefined)
    const httpPort = config.httpPort ?? DEFAULT_HTTP_PORT

    if (domain === undefined) {
      this.#http = boundServer(
        http.createServer(serverOptions, (req, res) => handle(req, res, false)),
        this.#limits,
      )
      await listen(this.#http, httpPort, host, 'HTTP')
      logger.info('no domain given: serving the site over plain HTTP only, with no certificate', {
        url: this.url,
      })
      return
    }

    this.#http = boundServer(
      http.createServer(serverOptions, (req, res) => {
        const target = req.url ?? ''
        if (target.startsWith(CHALLENGE_PREFIX)) {
          securityHeaders(res, false)
          const content = this.#challenges.get(target.slice(CHALLENGE_PREFIX.length))
          res.statusCode = content === undefined ? 404 : 200
          res.setHeader('Content-Type', 'text/plain; charset=utf-8')
          res.setHeader('Cache-Control', 'no-store')
          res.end(content ?? 'No such challenge.\n')
          return
        }
        // Until a certificate is in service the site stays readable over HTTP.
        if (!this.#manager?.active || !target.startsWith('/')) {
          handle(req, res, false)
          return
        }
        securityHeaders(res, false)
        res.statusCode = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308
        // Joined as text: new URL('//elsewhere/', base) would leave this host (an open redirect).
        res.setHeader('Location', `${this.url.slice(0, -1)}${target}`)
        res.setHeader('Content-Type', 'text/plain; charset=utf-8')
        res.end('This site is served over HTTPS.\n')
      }),
      this.#limits,
    )
    this.#https = boundServer(
      https.createServer(
        { ...serverOptions, handshakeTimeout: this.#limits.handshakeTimeoutMs, minVersion: 'TLSv1.2' },
        (req, res) => handle(req, res, true),
      ),
      this.#limits,
    )
    // Failed handshakes (scanners, no certificate yet) are routine; keep them out of the error path.
    this.#https.on('tlsClientError', () => {})
    try {
      await listen(this.#http, httpPort, host, 'HTTP (needed for the ACME HTTP-01 challenge)')
      await listen(this.#https, config.httpsPort ?? DEFAULT_HTTPS_PORT, host, 'HTTPS')
    } catch (error) {
      await this.#closeServers()
      throw error
    }

    const manager = new CertificateManager({
      domain,
      email: config.email,
      directoryUrl: config.acmeDirectoryUrl ?? LETS_ENCRYPT_PRODUCTION,
      caPem: config.acmeCaPem,
      store: this.#deps.certificates,
      logger,
      resolve: config.resolve ?? systemResolve,
      httpPort: () => this.addresses().http?.port ?? httpPort,
      serveToken: this.#serveToken,
      install: (certificate) => {
        this.#https?.setSecureContext({ cert: certificate.certificatePem, key: certificate.privateKeyPem })
      },
      retry: { ...DEFAULT_RETRY, ...config.retry },
      checkIntervalMs: config.renewalCheckIntervalMs ?? DEFAULT_RENEWAL_CHECK_INTERVAL_MS,
      acmePoll: config.acmePollMs ?? { min: 2_000, max: 30_000, attempts: 10 },
      now: config.now ?? Date.now,
    })
    manager.on('certificate', (event) => this.emit('certificate', event))
    manager.on('certificate-error', (event) => this.emit('certificate-error', event))
    manager.on('ordering', (event) => this.emit('ordering', event))
    this.#manager = manager
    manager.start()
    logger.info('site listening', {
      domain,
      http: this.addresses().http?.port,
      https: this.addresses().https?.port,
      certificate: manager.active ? 'stored' : 'to be ordered',
    })
  }

  async #closeServers(): Promise<void> {
    const close = async (server: http.Server | undefined) => {
      if (!server?.listening) return
      const closed = once(server, 'close')
      server.close()
      server.closeAllConnections()
      await closed
    }
    await Promise.all([close(this.#http), close(this.#https)])
  }

  async stop(): Promise<void> {
    this.#manager?.stop()
    await this.#closeServers()
  }
}

/** Creates the site; nothing listens until start(). */
export function createSite(config: SiteConfig, deps: SiteDeps): Site {
  return new SiteImpl(config, deps)
}
