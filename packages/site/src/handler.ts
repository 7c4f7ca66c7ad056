import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseRecordId } from '@capsule/core'
import { CONTENT_SECURITY_POLICY, FAVICON_SVG } from './assets.js'
import { renderAtom } from './atom.js'
import { BACKFILL_MAX_RECORDS } from './config.js'
import type { Logger, SiteData } from './interfaces.js'
import { type PageContext, renderHome, renderNotFound, renderRecord } from './pages.js'
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

const HSTS = 'max-age=31536000'

export function securityHeaders(res: ServerResponse, secure: boolean): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('Referrer-Policy', 'no-referrer')
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
  res.setHeader('X-Frame-Options', 'DENY')
  if (secure) res.setHeader('Strict-Transport-Security', HSTS)
}

interface Reply {
  status: number
  type: string
  body: string | Uint8Array
  cache?: string
  headers?: Record<string, string>
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  res.setHeader('Content-Type', reply.type)
  res.setHeader('Cache-Control', reply.cache ?? 'no-cache')
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value)
  if (reply.status === 200) {
    res.setHeader('ETag', etag)
    if (req.headers['if-none-match'] === etag) {
      res.statusCode = 304
      res.end()
      return
    }
  }
  res.statusCode = reply.status
  res.setHeader('Content-Length', body.length)
  res.end(req.method === 'HEAD' ? undefined : body)
}

const HTML = 'text/html; charset=utf-8'
const JSON_TYPE = 'application/json; charset=utf-8'
const CORS = { 'Access-Control-Allow-Origin': '*' }

function json(value: unknown, cache = 'no-cache'): Reply {
  return { status: 200, type: JSON_TYPE, body: `${JSON.stringify(value, null, 2)}\n`, cache, headers: CORS }
}

function problem(status: number, message: string): Reply {
  return { status, type: 'text/plain; charset=utf-8', body: `${message}\n` }
}

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

  const notFound = (what: string): Reply => ({
    status: 404,
    type: HTML,
    body: renderNotFound(context(), what),
  })

  function route(url: URL): Reply {
    const path = url.pathname
    if (path === '/') {
      const before = url.searchParams.get('before') ?? undefined
      if (before !== undefined && before.length > 200) return problem(400, 'That page cursor is not valid.')
      let page: ReturnType<SiteData['page']>
      try {
        page = data.page({ limit: options.pageSize, ...(before === undefined ? {} : { before }) })
      } catch (error) {
        if (error instanceof RangeError) return problem(400, 'That page cursor is not valid.')
        throw error
      }
      return { status: 200, type: HTML, body: renderHome(context(), page, before) }
    }
    if (path.startsWith('/r/')) {
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
        return {
          status: 200,
          type: 'application/cbor',
          body: record.bytes,
          // Content-addressed: the bytes behind an id never change.
          cache: 'public, max-age=31536000, immutable',
          headers: { ...CORS, 'Content-Disposition': `attachment; filename="${id}.cbor"` },
        }
      }
      return { status: 200, type: HTML, body: renderRecord(context(), record) }
    }
    if (path === '/feed.atom') {
      const { records } = data.page({ limit: options.feedSize })
      return {
        status: 200,
        type: 'application/atom+xml; charset=utf-8',
        body: renderAtom(context(), options.siteUrl(), records),
        headers: CORS,
      }
    }
    if (path === WELL_KNOWN_PATH) {
      const profile = data.profile()
      const siteUrl = options.siteUrl()
      const document: WellKnownDocument = {
        capsule: WELL_KNOWN_VERSION,
        peerId: data.ownerId,
        multiaddrs: data.meshAddresses(),
        siteUrl,
        profile: profile ? base64(profile.bytes) : null,
        records: new URL(BACKFILL_PATH, siteUrl).toString(),
      }
      return json(document)
    }
    if (path === BACKFILL_PATH) {
      const after = nonNegativeInteger(url.searchParams.get('after'), 0)
      const limit = nonNegativeInteger(url.searchParams.get('limit'), BACKFILL_MAX_RECORDS)
      if (after === undefined || limit === undefined || limit < 1)
        return problem(400, 'Use ?after=<sequence number>&limit=<1 to 100>.')
      const bounded = Math.min(limit, BACKFILL_MAX_RECORDS)
      const records = data.recordsAfter(after, bounded)
      const document: BackfillDocument = {
        records: records.slice(0, bounded).map(base64),
        more: records.length >= bounded,
      }
      return json(document)
    }
    if (path === '/favicon.svg' || path === '/favicon.ico') {
      return { status: 200, type: 'image/svg+xml', body: FAVICON_SVG, cache: 'public, max-age=86400' }
    }
    if (path === '/robots.txt') {
      return { status: 200, type: 'text/plain; charset=utf-8', body: 'User-agent: *\nAllow: /\n' }
    }
    return notFound('There is nothing at this address.')
  }

  return (req, res, secure) => {
    securityHeaders(res, secure)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      res.setHeader('Connection', 'close')
      send(req, res, problem(405, 'This site is read-only: only GET and HEAD are served.'))
      return
    }
    let url: URL
    try {
      if (!req.url?.startsWith('/')) throw new TypeError('not an origin-form target')
      url = new URL(req.url, 'http://site.invalid')
    } catch {
      send(req, res, problem(400, 'That request target is not a path.'))
      return
    }
    try {
      send(req, res, route(url))
    } catch (error) {
      if (error instanceof URIError) {
        send(req, res, problem(400, 'That address is not valid.'))
        return
      }
      logger.error('site request failed', { path: url.pathname, error: (error as Error).message })
      send(req, res, problem(500, 'Something went wrong on this node; the owner can see it in the log.'))
    }
  }
}
