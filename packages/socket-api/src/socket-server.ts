import { chmodSync, unlinkSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { ApiError, DaemonRunningError } from './errors.js'

/** Largest JSON body accepted: a post is at most a few KiB, so this is generous. */
export const MAX_BODY_BYTES = 64 * 1024

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface RequestContext {
  params: Record<string, string>
  query: URLSearchParams
  body: unknown
  /** Aborted when the client goes away; streaming handlers stop on it. */
  signal: AbortSignal
}

/** A handler returns a JSON-able value, or an async iterable of them for an NDJSON stream. */
export type Handler = (context: RequestContext) => unknown | Promise<unknown>

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Segments starting with ':' capture a parameter, e.g. /v1/records/:id */
  path: string
  handler: Handler
  /** Responses are newline-delimited JSON that stays open. */
  stream?: boolean
}

export interface SocketServerConfig {
  path: string
  routes: readonly Route[]
  logger: Logger
  /** Translates domain errors into ApiErrors; anything else becomes 'internal'. */
  mapError?: (error: unknown) => ApiError | undefined
}

function matchRoute(route: Route, segments: string[]): Record<string, string> | undefined {
  const pattern = route.path.split('/').filter(Boolean)
  if (pattern.length !== segments.length) return undefined
  const params: Record<string, string> = {}
  for (const [index, part] of pattern.entries()) {
    const segment = segments[index] as string
    if (part.startsWith(':')) params[part.slice(1)] = segment
    else if (part !== segment) return undefined
  }
  return params
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES)
    throw new ApiError('body-too-large', `request body over ${MAX_BODY_BYTES} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES)
      throw new ApiError('body-too-large', `request body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ApiError('bad-json', 'the request body is not valid JSON')
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value ?? {})
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}

function parseTarget(target: string): { url: URL; segments: string[] } {
  // Only the path and query matter; a target like "//x" would otherwise name a host.
  const url = URL.parse(`http://capsule${target.startsWith('/') ? target : `/${target}`}`)
  if (url === null) throw new ApiError('invalid-argument', 'the request path is not a valid URL path')
  try {
    return { url, segments: url.pathname.split('/').filter(Boolean).map(decodeURIComponent) }
  } catch {
    throw new ApiError('invalid-argument', 'the request path has a malformed %-escape')
  }
}

/** Is a daemon answering on this socket? A refused or missing socket means no. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
}

/**
 * HTTP/1.1 + JSON over a Unix socket readable by its owner only: the daemon's API for the CLI
 * and for `curl --unix-socket`.
 */
export class SocketServer {
  readonly #config: SocketServerConfig
  readonly #server: Server
  readonly #streams = new Set<AbortController>()

  constructor(config: SocketServerConfig) {
    this.#config = config
    this.#server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (request, response) => {
      void this.#handle(request, response)
    })
  }

  async start(): Promise<void> {
    const { path } = this.#config
    if (await socketIsLive(path)) throw new DaemonRunningError(path)
    // A socket file nobody answers on was left by a daemon that crashed: replace it.
    try {
      unlinkSync(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(path, () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    chmodSync(path, 0o600)
  }

  async stop(): Promise<void> {
    for (const stream of this.#streams) stream.abort()
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const controller = new AbortController()
    // Only a client that left before the answer ended aborts: an abort makes an AbortError with
    // its stack trace, which every answered request would otherwise pay for.
    response.once('close', () => {
      if (!response.writableFinished) controller.abort()
    })
    try {
      // Parsed inside the try: "//" or a bad %-escape must be a 400, not an unhandled rejection
      // that takes the daemon down.
      const { url, segments } = parseTarget(request.url ?? '/')
      const candidates = this.#config.routes.filter((route) => matchRoute(route, segments) !== undefined)
      if (candidates.length === 0) throw new ApiError('unknown-route', `no such route: ${url.pathname}`)
      const route = candidates.find((candidate) => candidate.method === request.method)
      if (route === undefined) {
        throw new ApiError(
          'method-not-allowed',
          `${url.pathname} takes ${candidates.map((r) => r.method).join(', ')}`,
        )
      }
      const body = route.method === 'GET' ? undefined : await readJsonBody(request)
      const params = matchRoute(route, segments) ?? {}
      const result = await route.handler({ params, query: url.searchParams, body, signal: controller.signal })
      if (route.stream && isAsyncIterable(result)) await this.#stream(response, result, controller)
      else sendJson(response, route.method === 'POST' ? 201 : 200, result)
    } catch (error) {
      const apiError = this.#toApiError(error)
      if (apiError.code === 'internal')
        this.#config.logger.error('socket request failed', { error: String(error) })
      if (!response.headersSent) sendJson(response, apiError.status, apiError.toJSON())
      else response.destroy()
    }
  }

  async #stream(
    response: ServerResponse,
    items: AsyncIterable<unknown>,
    controller: AbortController,
  ): Promise<void> {
    this.#streams.add(controller)
    response.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    response.flushHeaders()
    try {
      for await (const item of items) {
        if (controller.signal.aborted) break
        response.write(`${JSON.stringify(item)}\n`)
      }
    } catch (error) {
      // The client left or the daemon is stopping: the end of a stream, not a failure.
      if (!controller.signal.aborted) throw error
    } finally {
      this.#streams.delete(controller)
      response.end()
    }
  }

  #toApiError(error: unknown): ApiError {
    if (error instanceof ApiError) return error
    return (
      this.#config.mapError?.(error) ?? new ApiError('internal', 'the daemon failed to answer; see its log')
    )
  }
}
