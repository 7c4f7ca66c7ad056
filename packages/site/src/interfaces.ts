import type { ProfileBody, VerifiedRecord } from '@capsule/core'

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

/** One page of the owner's own posts and reshares, newest first, deleted records absent. */
export interface SitePage {
  records: VerifiedRecord[]
  /** Opaque cursor for the next (older) page; absent on the last page. */
  next?: string
}

/**
 * What the site reads. The app implements it over the store; every method is synchronous because
 * SQLite reads are. Only the owner's records are ever shown.
 */
export interface SiteData {
  /** The owner's peer id (the author id of their records). */
  readonly ownerId: string
  /**
   * Changes whenever what profile(), page(), record(), recordsAfter() or authorProfile() return
   * may have changed (a record stored or deleted). The site keeps rendered pages until it does, so
   * it must be cheap: it is read on every request.
   */
  revision(): number
  /** The owner's newest profile record, if they signed one. */
  profile(): VerifiedRecord<ProfileBody> | undefined
  /** Own posts and reshares, newest first. `before` is a cursor from an earlier page; a bad cursor throws RangeError. */
  page(options: { before?: string; limit: number }): SitePage
  /** One of the owner's own records by id, if held and not deleted. */
  record(id: string): VerifiedRecord | undefined
  /** Own records with seq above `afterSeq`, oldest first, as signed bytes: what followers backfill. */
  recordsAfter(afterSeq: number, limit: number): Uint8Array[]
  /** The multiaddrs (with /p2p/<peer id>) where the mesh node can be dialled. */
  meshAddresses(): string[]
  /** Optional: the newest profile of another author (to name the original author of a reshare). */
  authorProfile?(author: string): VerifiedRecord<ProfileBody> | undefined
}

/** A certificate as kept in the database. */
export interface StoredCertificate {
  domain: string
  /** Leaf first, then the chain, PEM. */
  certificatePem: string
  privateKeyPem: string
  /** The ACME directory that issued it; a certificate from another CA (say staging) is replaced. */
  directoryUrl: string
  /** Unix ms. */
  issuedAt: number
}

/** Where certificates and the ACME account key live. The app keeps them in its SQLite file. */
export interface CertificateStore {
  accountKey(): string | undefined
  saveAccountKey(pem: string): void
  certificate(domain: string): StoredCertificate | undefined
  saveCertificate(certificate: StoredCertificate): void
}
