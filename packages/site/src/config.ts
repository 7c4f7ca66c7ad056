export const LETS_ENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory'
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory'

export const DEFAULT_HTTP_PORT = 80
export const DEFAULT_HTTPS_PORT = 443
/** How often the certificate's remaining lifetime is checked. */
export const DEFAULT_RENEWAL_CHECK_INTERVAL_MS = 12 * 60 * 60 * 1000
/** Posts per home page. */
export const DEFAULT_PAGE_SIZE = 20
/** Entries in the Atom feed. */
export const DEFAULT_FEED_SIZE = 50
/** Records per backfill answer, and the most a client may ask for. */
export const BACKFILL_MAX_RECORDS = 100

/** Resolves a host name to IP addresses (v4 or v6); tests point it at their own DNS server. */
export type Resolve = (hostname: string) => Promise<string[]>

/** Delays between failed certificate attempts: doubling from a base, up to a ceiling. */
export interface RetryPolicy {
  /** After a failed local check (no CA contacted). Default 30 s. */
  preflightBaseMs: number
  /** After a failed order at the CA. Default 5 min: Let's Encrypt allows 5 failed validations per name per hour. */
  orderBaseMs: number
  /** Never wait longer than this. Default 6 h. */
  maxMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  preflightBaseMs: 30_000,
  orderBaseMs: 5 * 60_000,
  maxMs: 6 * 60 * 60_000,
}

/** Bounds on request handling, against slow or greedy clients. */
export interface ServerLimits {
  /** Time to receive the request headers. */
  headersTimeoutMs: number
  /** Time to receive the whole request. */
  requestTimeoutMs: number
  /** Idle keep-alive time. */
  keepAliveTimeoutMs: number
  /** TLS handshake time. */
  handshakeTimeoutMs: number
  /** Bytes of request headers. */
  maxHeaderBytes: number
  /** Open connections per server. */
  maxConnections: number
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 8 * 1024,
  maxConnections: 1024,
}

export interface SiteConfig {
  /** The public name. Without it the site serves plain HTTP (on 127.0.0.1 by default) and gets no certificate. */
  domain?: string
  /** Contact address given to the CA (expiry notices). */
  email?: string
  /** ACME directory. Default: Let's Encrypt production. */
  acmeDirectoryUrl?: string
  /**
   * Extra CA certificates (PEM) trusted for the ACME directory's own TLS, besides Node's roots and
   * NODE_EXTRA_CA_CERTS. For in-process tests against pebble.
   */
  acmeCaPem?: string
  /** Address to listen on. Default: all interfaces with a domain, 127.0.0.1 without. */
  siteHost?: string
  /** HTTP port: ACME challenges and redirects with a domain, the site itself without. Default 80; 0 picks one. */
  httpPort?: number
  /** HTTPS port. Default 443; 0 picks one. */
  httpsPort?: number
  /** Default 12 h. */
  renewalCheckIntervalMs?: number
  retry?: Partial<RetryPolicy>
  limits?: Partial<ServerLimits>
  /** Name resolution for the preflight check. Default: the system resolver (dns.lookup). */
  resolve?: Resolve
  /** Polling delays inside one ACME order (acme-client backoff). Tests shorten them. */
  acmePollMs?: { min: number; max: number; attempts: number }
  /** Clock, Unix ms. Tests move it to make a certificate look old. */
  now?: () => number
  pageSize?: number
  feedSize?: number
}
