import { decodeRecord, type ProfileBody, type VerifiedRecord } from '@capsule/core'
import { BACKFILL_MAX_RECORDS, type Resolve } from './config.js'
import { type BoundedResponse, boundedGet } from './fetch.js'
import { BACKFILL_PATH, WELL_KNOWN_PATH } from './well-known.js'

export type SiteClientErrorCode =
  /** The input is neither a domain nor an http(s) URL. */
  | 'bad-target'
  /** The site could not be reached (DNS, connection, TLS). */
  | 'unreachable'
  | 'timeout'
  /** The site answered with an error status or too many redirects. */
  | 'http-status'
  | 'too-large'
  /** The answer is not a Capsule document. */
  | 'bad-document'
  /** The site names no signed profile, so its peer id cannot be checked. */
  | 'no-profile'
  /** The profile or a record failed verification. */
  | 'bad-record'
  /** A signed record's author is not the peer id the site states. */
  | 'wrong-author'

export class SiteClientError extends Error {
  override readonly name = 'SiteClientError'
  constructor(
    readonly code: SiteClientErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export interface SiteClientOptions {
  /** For the whole exchange of one request. Default 10 s. */
  timeoutMs?: number
  /** Name resolution; default the system's. */
  resolve?: Resolve
  /** Extra trusted CA certificates (PEM) for the site's HTTPS, besides Node's roots. */
  ca?: string
  /** The receiver's clock for record checks. */
  now?: number
  signal?: AbortSignal
}

/** A site's answer to /.well-known/capsule, checked. */
export interface SiteIdentity {
  peerId: string
  multiaddrs: string[]
  siteUrl: string
  /** The signed profile; its author is `peerId`. */
  profile: VerifiedRecord<ProfileBody>
  /** Backfill endpoint. */
  recordsUrl: string
  /** Where the document was finally read (after redirects). */
  fetchedFrom: string
}

const WELL_KNOWN_MAX_BYTES = 64 * 1024
const BACKFILL_MAX_BYTES = 2 * 1024 * 1024
const MAX_REDIRECTS = 3
const MAX_MULTIADDRS = 32
const DEFAULT_TIMEOUT_MS = 10_000

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?::\d{1,5})?$/i

/**
 * Reads "alice.example", "alice.example:8443", "https://alice.example/…" or an explicit
 * "http://…" URL as the site's origin. A bare name means HTTPS.
 */
export function parseSiteTarget(input: string): URL {
  const text = input.trim()
  if (/^https?:\/\//i.test(text)) {
    if (!URL.canParse(text))
      throw new SiteClientError('bad-target', `"${text.slice(0, 100)}" is not a valid URL`)
    return new URL(new URL(text).origin)
  }
  if (!HOST.test(text))
    throw new SiteClientError(
      'bad-target',
      `"${text.slice(0, 100)}" is neither a domain name nor an http(s) URL`,
    )
  return new URL(`https://${text.toLowerCase()}`)
}

function describeError(error: NodeJS.ErrnoException, url: URL): SiteClientError {
  if (error.name === 'RequestTimeoutError')
    return new SiteClientError('timeout', `${url.host} did not answer in time`)
  if (error.name === 'ResponseTooLargeError')
    return new SiteClientError('too-large', `${url.host} sent too much: ${error.message}`)
  const code = error.code ?? ''
  const why =
    code === 'ENOTFOUND'
      ? `the name ${url.hostname} does not resolve`
      : code === 'ECONNREFUSED'
        ? 'the connection was refused'
        : code.startsWith('ERR_TLS') || code.includes('CERT') || code.includes('SELF_SIGNED')
          ? `its HTTPS certificate is not valid for ${url.hostname} (${code})`
          : error.message
  return new SiteClientError('unreachable', `Cannot reach ${url.origin}: ${why}`)
}

async function get(
  url: URL,
  options: SiteClientOptions,
  maxBytes: number,
): Promise<BoundedResponse & { url: URL }> {
  let current = url
  for (let hop = 0; ; hop++) {
    let response: BoundedResponse
    try {
      response = await boundedGet(current, {
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBytes,
        headers: { Accept: 'application/json' },
        ...(options.resolve ? { resolve: options.resolve } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      })
    } catch (error) {
      throw describeError(error as NodeJS.ErrnoException, current)
    }
    const location = response.headers.location
    if (response.status >= 300 && response.status < 400 && location) {
      if (hop >= MAX_REDIRECTS)
        throw new SiteClientError('http-status', `${url.origin} redirects too many times`)
      const next = URL.canParse(location, current.href) ? new URL(location, current) : undefined
      if (!next || (next.protocol !== 'https:' && next.protocol !== 'http:'))
        throw new SiteClientError('http-status', `${current.origin} redirects to an unusable address`)
      current = next
      continue
    }
    if (response.status !== 200)
      throw new SiteClientError(
        'http-status',
        `${current.toString()} answered ${response.status}${response.status === 404 ? ': this site does not look like a Capsule node' : ''}`,
      )
    return { ...response, url: current }
  }
}

function parseJson(body: Buffer, where: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new SiteClientError('bad-document', `${where} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SiteClientError('bad-document', `${where} is not a JSON object`)
  return value as Record<string, unknown>
}

function fromBase64(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw new SiteClientError('bad-document', `${what} is not base64`)
  return new Uint8Array(Buffer.from(text, 'base64'))
}

function verify(bytes: Uint8Array, what: string, now: number | undefined): VerifiedRecord {
  try {
    return decodeRecord(bytes, now === undefined ? {} : { now })
  } catch (error) {
    throw new SiteClientError('bad-record', `${what} does not verify: ${(error as Error).message}`)
  }
}

/**
 * Reads a site's /.well-known/capsule and checks that its signed profile verifies and is by the
 * peer id it states. The multiaddrs are hints to dial; the peer id is what is proven.
 */
export async function fetchWellKnown(target: string, options: SiteClientOptions = {}): Promise<SiteIdentity> {
  const origin = parseSiteTarget(target)
  const response = await get(new URL(WELL_KNOWN_PATH, origin), options, WELL_KNOWN_MAX_BYTES)
  const where = `${response.url.origin}${WELL_KNOWN_PATH}`
  const doc = parseJson(response.body, where)
  if (doc.capsule !== 1)
    throw new SiteClientError('bad-document', `${where} is not a version 1 Capsule document`)
  const { peerId } = doc
  if (typeof peerId !== 'string' || peerId.length > 128)
    throw new SiteClientError('bad-document', `${where} has no peerId`)
  if (doc.profile === null || doc.profile === undefined)
    throw new SiteClientError(
      'no-profile',
      `${where} carries no signed profile, so its peer id cannot be checked; the owner should set a profile`,
    )
  const profile = verify(fromBase64(doc.profile, 'the profile'), `The profile at ${where}`, options.now)
  if (profile.body.kind !== 'profile')
    throw new SiteClientError('bad-document', `the "profile" at ${where} is a ${profile.body.kind} record`)
  if (profile.body.author !== peerId)
    throw new SiteClientError(
      'wrong-author',
      `${where} states peer ${peerId}, but its profile is signed by ${profile.body.author}`,
    )
  const multiaddrs = Array.isArray(doc.multiaddrs)
    ? doc.multiaddrs
        .filter((a): a is string => typeof a === 'string' && a.startsWith('/') && a.length <= 512)
        .slice(0, MAX_MULTIADDRS)
    : []
  const siteUrl =
    typeof doc.siteUrl === 'string' && URL.canParse(doc.siteUrl) ? doc.siteUrl : `${response.url.origin}/`
  // The backfill endpoint is taken on the origin the document came from, never elsewhere.
  const recordsUrl = new URL(BACKFILL_PATH, response.url.origin).toString()
  return {
    peerId,
    multiaddrs,
    siteUrl,
    profile: profile as VerifiedRecord<ProfileBody>,
    recordsUrl,
    fetchedFrom: response.url.toString(),
  }
}

export interface FetchRecordsOptions extends SiteClientOptions {
  /** Only records with a sequence number above this. */
  after: number
  /** Stop after this many records. Default 1000. */
  maxRecords?: number
}

/**
 * Backfills an author's records from their site: each is verified with decodeRecord and must be
 * by `peerId`, with a seq above the one asked for. Oldest first.
 */
export async function fetchRecordsFromSite(
  site: { recordsUrl: string; peerId: string },
  options: FetchRecordsOptions,
): Promise<VerifiedRecord[]> {
  const max = options.maxRecords ?? 1000
  const records: VerifiedRecord[] = []
  let after = options.after
  while (records.length < max) {
    const url = new URL(site.recordsUrl)
    url.searchParams.set('after', String(after))
    url.searchParams.set('limit', String(Math.min(BACKFILL_MAX_RECORDS, max - records.length)))
    const response = await get(url, options, BACKFILL_MAX_BYTES)
    const doc = parseJson(response.body, url.origin + url.pathname)
    if (!Array.isArray(doc.records))
      throw new SiteClientError('bad-document', `${url.origin} sent no records list`)
    if (doc.records.length > BACKFILL_MAX_RECORDS)
      throw new SiteClientError('too-large', `${url.origin} sent more records than asked for`)
    let highest = after
    for (const [index, item] of doc.records.entries()) {
      const record = verify(fromBase64(item, `record ${index}`), `A record from ${url.origin}`, options.now)
      if (record.body.author !== site.peerId)
        throw new SiteClientError('wrong-author', `${url.origin} sent a record by ${record.body.author}`)
      if (record.body.seq <= after)
        throw new SiteClientError(
          'bad-document',
          `${url.origin} sent seq ${record.body.seq}, not above ${after}`,
        )
      highest = Math.max(highest, record.body.seq)
      records.push(record)
    }
    if (doc.more !== true || doc.records.length === 0) break
    after = highest
  }
  return records.slice(0, max)
}
