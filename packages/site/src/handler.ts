import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseRecordId } from '@capsule/core'
import { CONTENT_SECURITY_POLICY, FAVICON_SVG, STYLE, STYLE_PATH } from './assets.js'
import { renderAtom } from './atom.js'
import { BACKFILL_MAX_RECORDS } from './config.js'
import type { Logger, SiteData } from './interfaces.js'
import { type PageContext, renderHome, renderNotFound, renderRecord } from './pages.js'
import { ReplyCache } from './reply-cache.js'
import {
  BACKFILL_PATH,
  type BackfillDocument,
  WELL_KNOWN_PATH,
  WELL_KNOWN_VERSION,
  type WellKnownDocument,
} from './well-known.js'

export interface HandlerOptions {
  data: SiteData
  logger: Logger
  domain: string | undefined
  /** The canonical site URL now (it changes from http to https when a certificate arrives). */
  siteUrl: () => string
  pageSize: number
  feedSize: number
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, secure: boolean) => void

/** What every response carries; HSTS is added over HTTPS only. */
const SECURITY_HEADERS = [
  'Content-Security-Policy',
  CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options',
  'nosniff',
  'Referrer-Policy',
  'no-referrer',
  'Cross-Origin-Opener-Policy',
  'same-origin',
  'X-Frame-Options',
  'DENY',
]
const HSTS = ['Strict-Transport-Security', 'max-age=31536000']

/** Security headers as name, value, name, value…, the form writeHead takes. */
function securityHeaderList(secure: boolean): string[] {
  return secure ? [...SECURITY_HEADERS, ...HSTS] : SECURITY_HEADERS
}

export function securityHeaders(res: ServerResponse, secure: boolean): void {
  const list = securityHeaderList(secure)
  for (let i = 0; i < list.length; i += 2) res.setHeader(list[i] as string, list[i + 1] as string)
}

/**
 * An answer as it goes out, built once: the body as bytes, for a 200 its strong validator, and
 * every header in the form writeHead takes, over plain HTTP and over HTTPS. One writeHead with
 * the list saves about 1 µs of the 17 µs a cached page costs the server, against a setHeader per
 * header on every request.
 */
interface Reply {
  status: number
  body: Buffer
  etag: string | undefined
  headers: { plain: string[]; secure: string[] }
}

function reply(
  status: number,
  type: string,
  body: string | Uint8Array,
  options: { cache?: string; headers?: Record<string, string> } = {},
): Reply {
  const bytes =
    typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  const etag =
    status === 200 ? `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"` : undefined
  // Content-Length goes on a 304 and a HEAD too: RFC 9110 allows the length a GET's 200 would have.
  const own = [
    'Content-Type',
    type,
    'Cache-Control',
    options.cache ?? 'no-cache',
    ...Object.entries(options.headers ?? {}).flat(),
    ...(etag === undefined ? [] : ['ETag', etag]),
    'Content-Length',
    String(bytes.length),
  ]
  return {
    status,
    body: bytes,
    etag,
    headers: { plain: [...securityHeaderList(false), ...own], secure: [...securityHeaderList(true), ...own] },
  }
}

/** If-None-Match holds `*` or a list of tags, compared weakly (RFC 9110, 13.1.2). */
function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  if (ifNoneMatch === etag) return true
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim()
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`
  })
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply, secure: boolean): void {
  const status =
    reply.etag !== undefined && notModified(req.headers['if-none-match'], reply.etag) ? 304 : reply.status
  res.writeHead(status, secure ? reply.headers.secure : reply.headers.plain)
  res.end(status === 304 || req.method === 'HEAD' ? undefined : reply.body)
}

const HTML = 'text/html; charset=utf-8'
const JSON_TYPE = 'application/json; charset=utf-8'
const CORS = { 'Access-Control-Allow-Origin': '*' }

function json(value: unknown): Reply {
  return reply(200, JSON_TYPE, `${JSON.stringify(value, null, 2)}\n`, { headers: CORS })
}

function problem(status: number, message: string): Reply {
  return reply(status, 'text/plain; charset=utf-8', `${message}\n`)
}

const READ_ONLY = reply(
  405,
  'text/plain; charset=utf-8',
  'This site is read-only: only GET and HEAD are served.\n',
  { headers: { Allow: 'GET, HEAD', Connection: 'close' } },
)
const FAVICON = reply(200, 'image/svg+xml', FAVICON_SVG, { cache: 'public, max-age=86400' })
const STYLESHEET = reply(200, 'text/css; charset=utf-8', STYLE, {
  cache: 'public, max-age=31536000, immutable',
})
const ROBOTS = reply(200, 'text/plain; charset=utf-8', 'User-agent: *\nAllow: /\n')

/**
 * Rendered pages kept in memory: a page of 20 posts is about 14 KB (a few hundred KB at worst,
 * every post 1,000 escaped characters), so this holds hundreds of the pages a crowd or a crawler
 * asks for, and no more.
 */
const REPLY_CACHE_BYTES = 8 * 1024 * 1024

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

function nonNegativeInteger(text: string | null, fallback: number): number | undefined {
  if (text === null) return fallback
  if (!/^\d{1,16}$/.test(text)) return undefined
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : undefined
}

/** Routes for the site itself; everything it serves is in memory or in SiteData. */
export function createRequestHandler(options: HandlerOptions): RequestHandler {
  const { data, logger } = options

  const context = (): PageContext => ({
    ownerId: data.ownerId,
    profile: data.profile(),
    domain: options.domain,
    ...(data.authorProfile ? { authorProfile: (author: string) => data.authorProfile?.(author) } : {}),
  })

  const notFound = (what: string): Reply => reply(404, HTML, renderNotFound(context(), what))

  const cache = new ReplyCache<Reply>(REPLY_CACHE_BYTES)
  /** A reply built from SiteData and what `key` says, kept until the data's next revision. */
  const cached = (key: string, build: () => Reply): Reply => cache.get(key, data.revision(), build)

  function home(before: string | undefined): Reply {
    let page: ReturnType<SiteData['page']>
    try {
      page = data.page({ limit: options.pageSize, ...(before === undefined ? {} : { before }) })
    } catch (error) {
      if (error instanceof RangeError) return problem(400, 'That page cursor is not valid.')
      throw error
    }
    return reply(200, HTML, renderHome(context(), page, before))
  }

  function permalink(path: string): Reply {
    let id = decodeURIComponent(path.slice(3))
    const cbor = id.endsWith('.cbor')
    if (cbor) id = id.slice(0, -5)
    try {
      parseRecordId(id)
    } catch {
      return notFound('There is no record with that id here.')
    }
    const record = data.record(id)
    if (record === undefined || record.body.author !== data.ownerId)
      return notFound('There is no record with that id here. It may have been deleted.')
    if (cbor) {
      return reply(200, 'application/cbor', record.bytes, {
        // Content-addressed: the bytes behind an id never change.
        cache: 'public, max-age=31536000, immutable',
        headers: { ...CORS, 'Content-Disposition': `attachment; filename="${id}.cbor"` },
      })
    }
    return reply(200, HTML, renderRecord(context(), record))
  }

  function feed(siteUrl: string): Reply {
    const { records } = data.page({ limit: options.feedSize })
    return reply(200, 'application/atom+xml; charset=utf-8', renderAtom(context(), siteUrl, records), {
      headers: CORS,
    })
  }

  function wellKnown(siteUrl: string, multiaddrs: string[]): Reply {
    const profile = data.profile()
    const document: WellKnownDocument = {
      capsule: WELL_KNOWN_VERSION,
      peerId: data.ownerId,
      multiaddrs,
      siteUrl,
      profile: profile ? base64(profile.bytes) : null,
      records: new URL(BACKFILL_PATH, siteUrl).toString(),
    }
    return json(document)
  }

  function backfill(after: number, limit: number): Reply {
    const records = data.recordsAfter(after, limit)
    const document: BackfillDocument = {
      records: records.slice(0, limit).map(base64),
      more: records.length >= limit,
    }
    return json(document)
  }

  function route(url: URL): Reply {
    const path = url.pathname
    if (path === '/') {
      const before = url.searchParams.get('before') ?? undefined
      if (before === undefined) return cached(path, () => home(before))
      if (before.length > 200) return problem(400, 'That page cursor is not valid.')
      return cached(`/?before=${before}`, () => home(before))
    }
    if (path.startsWith('/r/')) return cached(path, () => permalink(path))
    // The canonical URL is in the feed and the well-known document, and changes to https when a
    // certificate arrives; the mesh addresses change when the node listens elsewhere.
    if (path === '/feed.atom') {
      const siteUrl = options.siteUrl()
      return cached(`${path} ${siteUrl}`, () => feed(siteUrl))
    }
    if (path === WELL_KNOWN_PATH) {
      const siteUrl = options.siteUrl()
      const multiaddrs = data.meshAddresses()
      return cached(`${path} ${siteUrl} ${multiaddrs.join(' ')}`, () => wellKnown(siteUrl, multiaddrs))
    }
    if (path === BACKFILL_PATH) {
      const after = nonNegativeInteger(url.searchParams.get('after'), 0)
      const limit = nonNegativeInteger(url.searchParams.get('limit'), BACKFILL_MAX_RECORDS)
      if (after === undefined || limit === undefined || limit < 1)
        return problem(400, 'Use ?after=<sequence number>&limit=<1 to 100>.')
      const bounded = Math.min(limit, BACKFILL_MAX_RECORDS)
      return cached(`${path}?after=${after}&limit=${bounded}`, () => backfill(after, bounded))
    }
    if (path === STYLE_PATH) return STYLESHEET
    if (path === '/favicon.svg' || path === '/favicon.ico') return FAVICON
    if (path === '/robots.txt') return ROBOTS
    return notFound('There is nothing at this address.')
  }

  return (req, res, secure) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, READ_ONLY, secure)
      return
    }
    let url: URL
    try {
      if (!req.url?.startsWith('/')) throw new TypeError('not an origin-form target')
      url = new URL(req.url, 'http://site.invalid')
    } catch {
      send(req, res, problem(400, 'That request target is not a path.'), secure)
      return
    }
    try {
      send(req, res, route(url), secure)
    } catch (error) {
      if (error instanceof URIError) {
        send(req, res, problem(400, 'That address is not valid.'), secure)
        return
      }
      logger.error('site request failed', { path: url.pathname, error: (error as Error).message })
      send(
        req,
        res,
        problem(500, 'Something went wrong on this node; the owner can see it in the log.'),
        secure,
      )
    }
  }
}
