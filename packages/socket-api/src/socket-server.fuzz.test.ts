import { mkdtempSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError, type ApiErrorCode, type Route, SocketClient, SocketServer } from './index.js'

// Arbitrary methods, paths and bodies against a real SocketServer on a real Unix socket: every
// answer is JSON with a stable code (or a success), and the server keeps serving.
const CODES: ApiErrorCode[] = [
  'bad-json',
  'body-too-large',
  'unknown-route',
  'method-not-allowed',
  'invalid-argument',
  'invalid-record',
  'not-found',
  'not-reachable',
  'disk-full',
  'read-only',
  'storage-error',
  'internal',
]

const errors: string[] = []
const logger = { info() {}, warn() {}, error: (message: string) => void errors.push(message) }
const routes: Route[] = [
  { method: 'GET', path: '/v1/records/:id', handler: ({ params }) => ({ id: params.id }) },
  {
    method: 'POST',
    path: '/v1/posts',
    handler: ({ body }) => {
      const text = (body as { text?: unknown } | null | undefined)?.text
      if (typeof text !== 'string') throw new ApiError('invalid-argument', 'text is required')
      return { id: 'x' }
    },
  },
  { method: 'DELETE', path: '/v1/follows/:author', handler: () => ({ ok: true }) },
]

let server: SocketServer
let path = ''

function send(method: string, target: string, body?: Uint8Array) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    // An explicit length: Node sends OPTIONS and DELETE bodies unframed otherwise.
    const headers = body ? { 'content-length': String(body.byteLength) } : {}
    const req = request({ socketPath: path, path: target, method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        text += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Raw bytes on the socket; resolves with whatever comes back before the server closes. */
function raw(bytes: Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path)
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => {
      text += chunk
      // One answer is enough; the server may keep the connection alive.
      if (text.includes('\r\n\r\n')) socket.end()
    })
    socket.on('close', () => resolve(text))
    socket.on('error', () => resolve(text))
    socket.end(bytes)
  })
}

function expectStableAnswer(answer: { status: number; body: string }): void {
  if (answer.status >= 400) {
    const parsed = JSON.parse(answer.body) as { error: { code: ApiErrorCode; message: string } }
    expect(CODES).toContain(parsed.error.code)
    expect(typeof parsed.error.message).toBe('string')
  } else {
    expect(() => JSON.parse(answer.body)).not.toThrow()
  }
}

// Printable ASCII (what an HTTP client may put on a request line), rich in '%' and '/'.
const pathChar = fc.oneof(
  fc.constantFrom('%', '/', '%E0%A4%A', '%ZZ', '%00', '..', '?', '#', ':'),
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 4 }),
)
const target = fc
  .tuple(
    fc.constantFrom('/', '/v1/', '/v1/records/', '/v1/posts', '/v1/follows/', '//', ''),
    fc.array(pathChar, { maxLength: 8 }),
  )
  .map(([prefix, parts]) => `${prefix}${parts.join('')}`)
  .filter((value) => value.startsWith('/'))
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'BREW')
const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 256 }),
  fc.json().map((text) => Buffer.from(text)),
  fc.anything().map((value) => Buffer.from(JSON.stringify(value) ?? 'undefined')),
)

beforeAll(async () => {
  path = join(mkdtempSync(join(tmpdir(), 'capsule-sock-fuzz-')), 'capsule.sock')
  server = new SocketServer({ path, routes, logger })
  await server.start()
})

afterAll(async () => {
  await server?.stop()
})

describe('SocketServer under arbitrary requests', () => {
  it('answers arbitrary methods, paths and bodies with JSON and a stable code', async () => {
    await fc.assert(
      fc.asyncProperty(method, target, body, async (m, t, b) => {
        const answer = await send(m, t, m === 'GET' || m === 'HEAD' ? undefined : b)
        if (m === 'HEAD') return // no body by definition
        // Node's HTTP parser refuses a method it does not know with a bare 400 before our code.
        if (m === 'BREW') return void expect(answer.status).toBe(400)
        expectStableAnswer(answer)
      }),
      { numRuns: 400 },
    )
    expect(errors).toEqual([])
    expect(await new SocketClient(path).request('/v1/records/still')).toEqual({ id: 'still' })
  })

  it('survives arbitrary bytes on the socket and a declared body of 2^31 bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        await raw(bytes)
      }),
      { numRuns: 100 },
    )
    const huge = await raw(
      Buffer.from(`POST /v1/posts HTTP/1.1\r\nHost: capsule\r\nContent-Length: ${2 ** 31}\r\n\r\n{"te`),
    )
    expect(huge).toMatch(/^HTTP\/1\.1 413/)
    expect(huge).toContain('body-too-large')
    expect(await new SocketClient(path).request('/v1/records/still')).toEqual({ id: 'still' })
  })
})
