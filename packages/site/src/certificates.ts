import { X509Certificate } from 'node:crypto'
import { EventEmitter } from 'node:events'
import https from 'node:https'
import { rootCertificates } from 'node:tls'
import type * as acmeClient from 'acme-client'
import {
  type AcmeProblem,
  asCertificateError,
  type CertificateError,
  explainDirectoryError,
  explainProblem,
  parseRetryAfter,
} from './certificate-errors.js'
import type { Resolve, RetryPolicy } from './config.js'
import { boundedGet } from './fetch.js'
import type { CertificateStore, Logger, StoredCertificate } from './interfaces.js'
import { PreflightError, preflight } from './preflight.js'

/** What the node knows about a certificate without trusting anything but its own parsing. */
export interface CertificateInfo {
  notBefore: number
  notAfter: number
  /** When a third of the lifetime remains. */
  renewAt: number
  serialNumber: string
  issuer: string
  fingerprint256: string
}

export function certificateInfo(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem)
  const notBefore = Date.parse(cert.validFrom)
  const notAfter = Date.parse(cert.validTo)
  return {
    notBefore,
    notAfter,
    renewAt: notBefore + ((notAfter - notBefore) * 2) / 3,
    serialNumber: cert.serialNumber,
    issuer: cert.issuer,
    fingerprint256: cert.fingerprint256,
  }
}

function coversDomain(pem: string, domain: string): boolean {
  try {
    return new X509Certificate(pem).checkHost(domain) !== undefined
  } catch {
    return false
  }
}

export interface CertificateEvents {
  /** A certificate was installed: loaded at start, issued, or renewed. */
  certificate: [{ certificate: StoredCertificate; info: CertificateInfo; reason: 'stored' | 'issued' }]
  /** An attempt failed; the next one is at `retryAt`. */
  'certificate-error': [{ error: CertificateError; failures: number; retryAt: number }]
  /** An order is about to be placed at the CA. */
  ordering: [{ domain: string; directoryUrl: string }]
}

export interface CertificateStatus {
  state: 'none' | 'valid' | 'renewing' | 'ordering'
  info?: CertificateInfo
  lastError?: CertificateError
  failures: number
  nextCheckAt?: number
}

export interface CertificateManagerOptions {
  domain: string
  email: string | undefined
  directoryUrl: string
  caPem: string | undefined
  store: CertificateStore
  logger: Logger
  resolve: Resolve
  /** The port this node serves HTTP-01 on (bound, so port 0 is already resolved). */
  httpPort: () => number
  /** Registers an HTTP-01 answer; returns its remover. */
  serveToken(token: string, content: string): () => void
  /** Puts a certificate into service; must not throw for a good certificate. */
  install(certificate: StoredCertificate): void
  retry: RetryPolicy
  checkIntervalMs: number
  acmePoll: { min: number; max: number; attempts: number }
  now: () => number
}

const MAX_TIMER_MS = 2 ** 31 - 1
const ACME_REQUEST_TIMEOUT_MS = 30_000

type Acme = typeof acmeClient
type AxiosConfig = Parameters<Parameters<Acme['axios']['interceptors']['request']['use']>[0] & {}>[0]

/**
 * Keeps a certificate for one domain: loads it from the store, orders one over ACME HTTP-01 when
 * there is none or a third of its lifetime remains, and backs off after failures.
 */
export class CertificateManager extends EventEmitter<CertificateEvents> {
  readonly #options: CertificateManagerOptions
  #active: StoredCertificate | undefined
  #activeInfo: CertificateInfo | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = true
  #failures = 0
  #nextAttemptAt = 0
  #lastError: CertificateError | undefined
  #nextCheckAt: number | undefined
  #lastProblem: AcmeProblem | undefined

  constructor(options: CertificateManagerOptions) {
    super()
    this.#options = options
  }

  /** Installs a usable stored certificate at once, then checks (and orders if needed) in the background. */
  start(): void {
    this.#stopped = false
    this.#loadStored()
    this.#schedule(0)
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  get active(): StoredCertificate | undefined {
    return this.#active
  }

  status(): CertificateStatus {
    const state = this.#running
      ? this.#active
        ? 'renewing'
        : 'ordering'
      : this.#active && this.#activeInfo && this.#activeInfo.notAfter > this.#options.now()
        ? 'valid'
        : 'none'
    return {
      state,
      failures: this.#failures,
      ...(this.#activeInfo ? { info: this.#activeInfo } : {}),
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      ...(this.#nextCheckAt ? { nextCheckAt: this.#nextCheckAt } : {}),
    }
  }

  /** Runs one check now (or joins the one running): what the timer does. */
  check(): Promise<void> {
    this.#running ??= this.#check().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    if (this.#timer) clearTimeout(this.#timer)
    const delay = Math.min(Math.max(0, delayMs), MAX_TIMER_MS)
    this.#nextCheckAt = this.#options.now() + delay
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.check().then(() => this.#schedule(this.#nextDelay()))
    }, delay)
  }

  #nextDelay(): number {
    const now = this.#options.now()
    let delay = this.#options.checkIntervalMs
    if (this.#failures > 0) delay = Math.min(delay, this.#nextAttemptAt - now)
    else if (this.#activeInfo) delay = Math.min(delay, this.#activeInfo.renewAt - now)
    return Math.max(delay, 0)
  }

  /** Takes the store's certificate when it differs from the one in service (the store is the truth). */
  #loadStored(): void {
    const { domain, store, logger } = this.#options
    const stored = store.certificate(domain)
    if (!stored || stored.certificatePem === this.#active?.certificatePem) return
    let info: CertificateInfo
    try {
      info = certificateInfo(stored.certificatePem)
    } catch (error) {
      logger.warn('the stored certificate cannot be read; a new one will be ordered', {
        domain,
        error: (error as Error).message,
      })
      return
    }
    if (info.notAfter <= this.#options.now() || !coversDomain(stored.certificatePem, domain)) return
    try {
      this.#options.install(stored)
    } catch (error) {
      logger.warn('the stored certificate cannot be used; a new one will be ordered', {
        domain,
        error: (error as Error).message,
      })
      return
    }
    this.#active = stored
    this.#activeInfo = info
    logger.info('serving the stored certificate', {
      domain,
      notAfter: new Date(info.notAfter).toISOString(),
      renewAt: new Date(info.renewAt).toISOString(),
    })
    this.emit('certificate', { certificate: stored, info, reason: 'stored' })
  }

  #wanted(): string | undefined {
    const { directoryUrl, now } = this.#options
    if (!this.#active || !this.#activeInfo) return 'there is no certificate yet'
    if (this.#active.directoryUrl !== directoryUrl) return 'the certificate comes from another CA'
    if (now() >= this.#activeInfo.renewAt) return 'a third of its lifetime remains'
    return undefined
  }

  async #check(): Promise<void> {
    if (this.#stopped) return
    this.#loadStored()
    const reason = this.#wanted()
    if (reason === undefined) return
    const now = this.#options.now()
    if (this.#failures > 0 && now < this.#nextAttemptAt) return
    const { domain, logger } = this.#options
    try {
      logger.info('getting a certificate', { domain, reason })
      const certificate = await this.#order()
      if (this.#stopped) return
      const info = certificateInfo(certificate.certificatePem)
      this.#options.store.saveCertificate(certificate)
      this.#options.install(certificate)
      this.#active = certificate
      this.#activeInfo = info
      this.#failures = 0
      this.#lastError = undefined
      logger.info('certificate installed', {
        domain,
        notAfter: new Date(info.notAfter).toISOString(),
        renewAt: new Date(info.renewAt).toISOString(),
      })
      this.emit('certificate', { certificate, info, reason: 'issued' })
    } catch (caught) {
      if (this.#stopped) return
      const error = asCertificateError(caught)
      const local = caught instanceof PreflightError
      this.#failures += 1
      const { retry } = this.#options
      const base = local ? retry.preflightBaseMs : retry.orderBaseMs
      const backoff = Math.min(base * 2 ** (this.#failures - 1), retry.maxMs)
      const after = this.#options.now()
      this.#nextAttemptAt = Math.max(after + backoff, error.retryAt ?? 0)
      this.#lastError = error
      logger.warn(error.message, {
        domain,
        problem: error.code,
        failures: this.#failures,
        retryAt: new Date(this.#nextAttemptAt).toISOString(),
        stillServing: this.#active ? 'https' : 'http',
      })
      this.emit('certificate-error', { error, failures: this.#failures, retryAt: this.#nextAttemptAt })
    }
  }

  async #order(): Promise<StoredCertificate> {
    const { domain, directoryUrl, store, logger } = this.#options
    await preflight({
      domain,
      httpPort: this.#options.httpPort(),
      resolve: this.#options.resolve,
      serveToken: this.#options.serveToken,
    })
    // Loaded only here: it costs about 180 ms and 37 MB, which a node without a domain, or with a
    // certificate far from renewal, never needs.
    const acme = await import('acme-client')
    let accountKey = store.accountKey()
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString()
      store.saveAccountKey(accountKey)
      logger.info('created an ACME account key (kept in the database)')
    }
    const client = new acme.Client({
      directoryUrl,
      accountKey,
      backoffAttempts: this.#options.acmePoll.attempts,
      backoffMin: this.#options.acmePoll.min,
      backoffMax: this.#options.acmePoll.max,
    })
    const [privateKey, csr] = await acme.crypto.createCsr(
      { commonName: domain, altNames: [domain] },
      await acme.crypto.createPrivateEcdsaKey('P-256'),
    )
    this.emit('ordering', { domain, directoryUrl })
    logger.info('ordering a certificate (by ordering you accept the CA subscriber agreement)', {
      domain,
      directoryUrl,
    })
    const removers = new Map<string, () => void>()
    this.#lastProblem = undefined
    const eject = this.#intercept(acme)
    try {
      const certificatePem = await client.auto({
        csr,
        ...(this.#options.email ? { email: this.#options.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The preflight above already checked that the port answers; acme-client's own check would use port 80.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          removers.set(challenge.token, this.#options.serveToken(challenge.token, keyAuthorization))
        },
        challengeRemoveFn: async (_authz, challenge) => {
          removers.get(challenge.token)?.()
          removers.delete(challenge.token)
        },
      })
      return {
        domain,
        certificatePem,
        privateKeyPem: privateKey.toString(),
        directoryUrl,
        issuedAt: this.#options.now(),
      }
    } catch (error) {
      throw await this.#explain(error)
    } finally {
      eject()
      for (const remove of removers.values()) remove()
    }
  }

  async #explain(error: unknown): Promise<CertificateError> {
    const { domain, directoryUrl } = this.#options
    if (this.#lastProblem) return explainProblem(this.#lastProblem, domain, this.#options.httpPort())
    // No problem document: the CA itself may be out of reach. Ask the directory to find out why.
    try {
      await boundedGet(new URL(directoryUrl), {
        timeoutMs: 15_000,
        maxBytes: 64 * 1024,
        ...(this.#options.caPem ? { ca: this.#options.caPem } : {}),
      })
    } catch (directoryError) {
      return explainDirectoryError(directoryError as NodeJS.ErrnoException, directoryUrl)
    }
    return asCertificateError(error)
  }

  /**
   * acme-client talks through one shared axios instance. For this CA's origin only: no hidden
   * retries (this manager backs off on its own, and a 429 must not block for hours), a timeout,
   * the extra trusted CA, and a note of every problem document the CA sends.
   */
  #intercept(acme: Acme): () => void {
    const origin = new URL(this.#options.directoryUrl).origin
    const ours = (url: string | undefined) => {
      try {
        return url !== undefined && new URL(url).origin === origin
      } catch {
        return false
      }
    }
    const agent = this.#options.caPem
      ? new https.Agent({ ca: [...rootCertificates, this.#options.caPem], keepAlive: false })
      : undefined
    const settings = (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } })
      .acmeSettings
    const request = acme.axios.interceptors.request.use((config: AxiosConfig) => {
      if (!ours(config.url)) return config
      Object.assign(config, { retryAttempt: settings.retryMaxAttempts, timeout: ACME_REQUEST_TIMEOUT_MS })
      if (agent) config.httpsAgent = agent
      return config
    })
    const response = acme.axios.interceptors.response.use((res) => {
      if (ours(res.config.url)) this.#noteProblem(res.data, res.headers['retry-after'])
      return res
    })
    return () => {
      acme.axios.interceptors.request.eject(request)
      acme.axios.interceptors.response.eject(response)
      agent?.destroy()
    }
  }

  #noteProblem(data: unknown, retryAfter: unknown): void {
    if (typeof data !== 'object' || data === null) return
    const d = data as Record<string, unknown>
    const asProblem = (value: unknown): AcmeProblem | undefined => {
      if (typeof value !== 'object' || value === null) return undefined
      const p = value as Record<string, unknown>
      if (typeof p.type !== 'string' || !p.type.startsWith('urn:ietf:params:acme:error:')) return undefined
      const retryAt = parseRetryAfter(
        typeof retryAfter === 'string' ? retryAfter : undefined,
        this.#options.now(),
      )
      // A CA puts the specific cause in the first subproblem when it has one.
      const sub = Array.isArray(p.subproblems) ? asProblem(p.subproblems[0]) : undefined
      const detail = typeof p.detail === 'string' ? p.detail : ''
      if (sub && p.type.endsWith(':compound')) return sub
      return { type: p.type, detail, ...(retryAt ? { retryAt } : {}) }
    }
    const direct = asProblem(d)
    if (direct) {
      // badNonce is retried inside acme-client and is never the cause of a failure.
      if (!direct.type.endsWith(':badNonce')) this.#lastProblem = direct
      return
    }
    if (d.status === 'invalid') {
      const challenges = Array.isArray(d.challenges) ? d.challenges : []
      const found =
        asProblem(d.error) ??
        challenges.map((c) => asProblem((c as Record<string, unknown>)?.error)).find((p) => p !== undefined)
      if (found) this.#lastProblem = found
    }
  }
}
