import { once } from 'node:events'
import http from 'node:http'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import { createSigner, type Signer, signRecord } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchRecordsFromSite, fetchWellKnown, SiteClientError } from './site-client.js'

// The follow-by-name client against a local node:http server that answers whatever fast-check
// makes up: only SiteClientError comes out, and what passes is proven by its signed profile.
interface Answer {
  status: number
  headers: Record<string, string>
  body: Buffer
}

let answer: Answer = { status: 200, headers: {}, body: Buffer.alloc(0) }
let server: http.Server
let raw: NetServer
let rawBytes = Buffer.alloc(0)
let origin = ''
let rawOrigin = ''
let alice: Signer
let profile = ''

async function listen(target: http.Server | NetServer): Promise<string> {
  target.listen(0, '127.0.0.1')
  await once(target, 'listening')
  return `http://127.0.0.1:${(target.address() as { port: number }).port}`
}

function expectSiteClientError(error: unknown): void {
  if (!(error instanceof SiteClientError)) throw error
}

beforeAll(async () => {
  alice = createSigner(await generateKeyPair('Ed25519'))
  profile = Buffer.from(
    signRecord({ kind: 'profile', name: 'Alice', bio: '' }, alice, { seq: 1, ts: Date.now() }).bytes,
  ).toString('base64')
  server = http.createServer((_request, response) => {
    response.writeHead(answer.status, answer.headers)
    response.end(answer.body)
  })
  raw = createNetServer((socket) => {
    socket.on('error', () => undefined)
    socket.end(rawBytes)
  })
  origin = await listen(server)
  rawOrigin = await listen(raw)
})

afterAll(() => {
  server?.closeAllConnections()
  server?.close()
  raw?.close()
})

const base64ish = fc.oneof(
  fc.constant(''),
  fc.string(),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.constantFrom('=', '====', 'AAAA', '////'),
)
const jsonScalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.double())

/** A document near the real shape: each field right, wrong or missing. */
const nearDocument = fc
  .record(
    {
      capsule: fc.oneof(fc.constant(1), jsonScalar),
      peerId: fc.oneof(fc.constant('alice'), fc.string({ maxLength: 200 }), jsonScalar),
      profile: fc.oneof(fc.constant('alice-profile'), base64ish, jsonScalar),
      multiaddrs: fc.oneof(fc.array(fc.oneof(fc.string(), jsonScalar), { maxLength: 40 }), jsonScalar),
      siteUrl: fc.oneof(fc.webUrl(), fc.string(), jsonScalar),
      records: fc.oneof(fc.webUrl(), jsonScalar),
    },
    { requiredKeys: [] },
  )
  .map((doc) => {
    const out: Record<string, unknown> = { ...doc }
    if (out.peerId === 'alice') out.peerId = alice.author
    if (out.profile === 'alice-profile') out.profile = profile
    return JSON.stringify(out)
  })

const body = fc.oneof(
  nearDocument,
  fc.json(),
  fc.string(),
  fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
)

describe('fetchWellKnown against arbitrary answers', () => {
  it('throws only SiteClientError; what passes is signed by the peer id it states', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(200, 200, 200, 301, 302, 404, 500, 204),
        fc.option(fc.oneof(fc.webUrl(), fc.string(), fc.constant('//evil.example/x')), { nil: undefined }),
        body,
        async (status, location, content) => {
          answer = {
            status,
            headers: location === undefined ? {} : { location: encodeURI(location) },
            body: Buffer.from(content),
          }
          try {
            const identity = await fetchWellKnown(origin, { timeoutMs: 2000 })
            expect(identity.peerId).toBe(alice.author)
            expect(identity.profile.body.author).toBe(alice.author)
            expect(identity.recordsUrl.startsWith(new URL(identity.fetchedFrom).origin)).toBe(true)
            expect(identity.multiaddrs.length).toBeLessThanOrEqual(32)
          } catch (error) {
            expectSiteClientError(error)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('refuses a declared length of 2^31 bytes before reading it, and an endless body at its cap', async () => {
    const big = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-length': String(2 ** 31) })
      response.write('{"capsule":1,')
    })
    const bigOrigin = await listen(big)
    const endless = http.createServer((_request, response) => {
      response.writeHead(200)
      const chunk = Buffer.alloc(16 * 1024, 0x20)
      const pump = () => {
        while (response.write(chunk)) {}
      }
      response.on('drain', pump)
      pump()
    })
    const endlessOrigin = await listen(endless)
    try {
      const before = process.memoryUsage().arrayBuffers
      await expect(fetchWellKnown(bigOrigin, { timeoutMs: 2000 })).rejects.toMatchObject({
        name: 'SiteClientError',
        code: 'too-large',
      })
      await expect(fetchWellKnown(endlessOrigin, { timeoutMs: 5000 })).rejects.toMatchObject({
        name: 'SiteClientError',
        code: 'too-large',
      })
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024)
    } finally {
      for (const s of [big, endless]) {
        s.closeAllConnections()
        s.close()
      }
    }
  })

  it('turns arbitrary bytes from a non-HTTP server into SiteClientError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)),
          fc.string().map((text) => Buffer.from(`HTTP/1.1 200 OK\r\n${text}\r\n\r\n${text}`)),
        ),
        async (bytes) => {
          rawBytes = bytes
          await fetchWellKnown(rawOrigin, { timeoutMs: 2000 }).then(
            () => expect.unreachable('a garbage answer passed'),
            expectSiteClientError,
          )
        },
      ),
      { numRuns: 100 },
    )
  })
})

describe('fetchRecordsFromSite against arbitrary answers', () => {
  it('throws only SiteClientError; every record returned is by the author and above `after`', async () => {
    const good = Array.from({ length: 3 }, (_, i) =>
      Buffer.from(
        signRecord({ kind: 'post', text: `p${i}` }, alice, { seq: i + 1, ts: Date.now() }).bytes,
      ).toString('base64'),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .record({
              records: fc.oneof(
                fc.array(fc.oneof(fc.constantFrom(...good), base64ish, jsonScalar)),
                jsonScalar,
              ),
              more: fc.oneof(fc.boolean(), jsonScalar),
            })
            .map((doc) => JSON.stringify(doc)),
          body,
        ),
        async (content) => {
          answer = { status: 200, headers: {}, body: Buffer.from(content) }
          try {
            const records = await fetchRecordsFromSite(
              { recordsUrl: `${origin}/.well-known/capsule/records`, peerId: alice.author },
              { after: 0, maxRecords: 10, timeoutMs: 2000 },
            )
            for (const record of records) {
              expect(record.body.author).toBe(alice.author)
              expect(record.body.seq).toBeGreaterThan(0)
            }
          } catch (error) {
            expectSiteClientError(error)
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})
