import { PreflightError } from './preflight.js'

/** What went wrong getting a certificate, in words a person can act on. */
export type CertificateProblemCode =
  /** The name does not resolve (found locally or by the CA). */
  | 'dns'
  /** Nothing answers on the HTTP port for the name (found locally). */
  | 'port-closed'
  /** Something else answers on the HTTP port (found locally). */
  | 'wrong-answer'
  /** The CA could not connect to this node. */
  | 'connection'
  /** The CA connected but did not get this node's answer. */
  | 'unauthorized'
  /** A CAA record forbids this CA. */
  | 'caa'
  /** The CA's rate limit; `retryAt` says when to try again. */
  | 'rate-limited'
  /** The CA will not issue for this name at all. */
  | 'rejected-identifier'
  /** The ACME directory cannot be reached. */
  | 'ca-unreachable'
  /** The ACME directory's TLS certificate is not trusted. */
  | 'ca-untrusted'
  | 'other'

export class CertificateError extends Error {
  override readonly name = 'CertificateError'
  constructor(
    readonly code: CertificateProblemCode,
    message: string,
    /** Unix ms before which the CA asked not to try again. */
    readonly retryAt?: number,
    /** The CA's or the system's own words. */
    readonly detail?: string,
  ) {
    super(message)
  }
}

/** An RFC 8555 problem document as the CA sent it. */
export interface AcmeProblem {
  type: string
  detail: string
  /** From a Retry-After header, Unix ms. */
  retryAt?: number
}

const ACME_ERROR = 'urn:ietf:params:acme:error:'

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  if (/^\d+$/.test(value.trim())) return now + Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : date
}

/** Let's Encrypt writes "retry after 2025-01-01 12:00:00 UTC" into rate-limit details. */
function retryAfterInDetail(detail: string): number | undefined {
  const match = /retry after (\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\s*UTC|Z)?/i.exec(detail)
  if (!match) return undefined
  const date = Date.parse(`${match[1]}T${match[2]}Z`)
  return Number.isNaN(date) ? undefined : date
}

function at(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
}

/** Turns a CA problem document into a plain-words error. */
export function explainProblem(problem: AcmeProblem, domain: string, httpPort: number): CertificateError {
  const type = problem.type.startsWith(ACME_ERROR) ? problem.type.slice(ACME_ERROR.length) : problem.type
  const detail = problem.detail
  const port = `port ${httpPort === 80 ? '80' : `${httpPort} (the CA checks port 80 in production)`}`
  switch (type) {
    case 'connection':
      return new CertificateError(
        'connection',
        `The CA could not connect to ${domain} on ${port} to check the challenge. Make sure ${domain} points at this machine, that the port is open to the internet, and that a router forwards it here. (CA said: ${detail})`,
        undefined,
        detail,
      )
    case 'dns':
      return new CertificateError(
        'dns',
        `The CA could not look up ${domain}. Check the A and AAAA records at your DNS provider; a wrong AAAA record is a common cause. (CA said: ${detail})`,
        undefined,
        detail,
      )
    case 'unauthorized':
    case 'incorrectResponse':
      return new CertificateError(
        'unauthorized',
        `The CA reached a server for ${domain}, but not this node's answer to the challenge. The name may point at another machine, or a proxy in front of this one does not pass /.well-known/acme-challenge/ through. (CA said: ${detail})`,
        undefined,
        detail,
      )
    case 'caa':
      return new CertificateError(
        'caa',
        `A CAA record on ${domain} (or a parent domain) does not allow this CA to issue. Add a CAA record allowing it (for Let's Encrypt: 0 issue "letsencrypt.org") or remove the CAA records. (CA said: ${detail})`,
        undefined,
        detail,
      )
    case 'rateLimited': {
      const retryAt = problem.retryAt ?? retryAfterInDetail(detail)
      return new CertificateError(
        'rate-limited',
        `The CA's rate limit for ${domain} is reached${retryAt ? `; Capsule will try again after ${at(retryAt)}` : ''}. Nothing to do but wait; to experiment, use the staging CA. (CA said: ${detail})`,
        retryAt,
        detail,
      )
    }
    case 'rejectedIdentifier':
    case 'unsupportedIdentifier':
      return new CertificateError(
        'rejected-identifier',
        `The CA will not issue a certificate for ${domain}: it must be a public domain name you own (not an IP address or a private name). (CA said: ${detail})`,
        undefined,
        detail,
      )
    default:
      return new CertificateError(
        'other',
        `The CA refused the certificate order for ${domain}: ${detail || type}`,
        problem.retryAt,
        detail,
      )
  }
}

const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** Explains why the ACME directory itself could not be used. */
export function explainDirectoryError(error: NodeJS.ErrnoException, directoryUrl: string): CertificateError {
  const code = error.code ?? ''
  if (UNTRUSTED_CODES.has(code)) {
    return new CertificateError(
      'ca-untrusted',
      `The ACME directory ${directoryUrl} presents a TLS certificate this node does not trust (${code}). For a private or test CA, give its root certificate through NODE_EXTRA_CA_CERTS.`,
      undefined,
      error.message,
    )
  }
  return new CertificateError(
    'ca-unreachable',
    `The ACME directory ${directoryUrl} cannot be reached (${code || error.message}). Check this machine's internet connection and DNS; Capsule will try again.`,
    undefined,
    error.message,
  )
}

/** Any failure, as a CertificateError. */
export function asCertificateError(error: unknown): CertificateError {
  if (error instanceof CertificateError) return error
  if (error instanceof PreflightError) return new CertificateError(error.code, error.message)
  const message = error instanceof Error ? error.message : String(error)
  return new CertificateError('other', `Getting a certificate failed: ${message}`, undefined, message)
}
