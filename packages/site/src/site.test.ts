import { once } from 'node:events'
import http from 'node:http'
import { connect } from 'node:net'
import { createSigner, decodeRecord, type PostBody, type VerifiedRecord } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { memoryCertificateStore } from './certificate-store.js'
import type { Logger } from './interfaces.js'
import { createSite, type Site } from './site.js'
import { fetchRecordsFromSite, fetchWellKnown, parseSiteTarget, SiteClientError } from './site-client.js'
import { MemorySiteData } from './testing/memory-site-data.js'
import type { WellKnownDocument } from './well-known.js'

const lines: string[] = []
const logger: Logger = {
  info: (m, f) => lines.push(`info ${m} ${JSON.stringify(f ?? {})}`),
  warn: (m, f) => lines.push(`warn ${m} ${JSON.stringify(f ?? {})}`),
  error: (m, f) => lines.push(`error ${m} ${JSON.stringify(f ?? {})}`),
}

async function owner(): Promise<MemorySiteData> {
  return new MemorySiteData(createSigner(await generateKeyPair('Ed25519')))
}

const running: Site[] = []
const servers: http.Server[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
})

async function startPlain(data: MemorySiteData, limits = {}): Promise<Site> {
  const site = createSite(
    { httpPort: 0, pageSize: 3, limits },
    { data, certificates: memoryCertificateStore(), logger },
  )
  running.push(site)
  await site.start()
  return site
}

describe('site over plain HTTP (no domain)', () => {
  it('serves home, permalinks, signed records, Atom, and the well-known document', async () => {
    const data = await owner()
    data.multiaddrs = [`/ip4/127.0.0.1/tcp/4001/p2p/${'x'}`]
    data.sign({ kind: 'profile', name: 'Alice', bio: 'Hello' })
    const first = data.post('first <script>alert(1)</script>')
    for (let i = 0; i < 4; i++) data.post(`post ${i}`)
    const site = await startPlain(data)
    expect(site.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    expect(site.addresses().https).toBeUndefined()
    expect(lines.some((l) => l.includes('plain HTTP only'))).toBe(true)

    const home = await fetch(site.url)
    expect(home.status).toBe(200)
    expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(home.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'self';/)
    expect(home.headers.get('x-content-type-options')).toBe('nosniff')
    expect(home.headers.get('referrer-policy')).toBe('no-referrer')
    expect(home.headers.get('strict-transport-security')).toBeNull()
    const html = await home.text()
    expect(html).toContain('post 3')
    expect(html).not.toContain('post 0')
    const older = /href="(\/\?before=[^"]+)"/.exec(html)?.[1]
    expect(older).toBeDefined()
    const page2 = await (await fetch(new URL((older as string).replaceAll('&#38;', '&'), site.url))).text()
    expect(page2).toContain('post 0')
    expect(page2).toContain('first &#60;script&#62;')

    const permalink = await fetch(new URL(`/r/${first.id}`, site.url))
    expect(permalink.status).toBe(200)
    expect(await permalink.text()).toContain('first &#60;script&#62;alert(1)&#60;/script&#62;')
    const stylesheet = /<link rel="stylesheet" href="([^"]+)">/.exec(html)?.[1]
    const css = await fetch(new URL(stylesheet as string, site.url))
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(css.headers.get('x-content-type-options')).toBe('nosniff')
    expect(await css.text()).toContain('prefers-color-scheme:dark')

    const cbor = await fetch(new URL(`/r/${first.id}.cbor`, site.url))
    expect(cbor.headers.get('content-type')).toBe('application/cbor')
    const bytes = new Uint8Array(await cbor.arrayBuffer())
    expect(decodeRecord(bytes).id).toBe(first.id)

    const atom = await fetch(new URL('/feed.atom', site.url))
    expect(atom.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8')
    expect((await atom.text()).match(/<entry>/g)).toHaveLength(5)

    const wellKnown = (await (
      await fetch(new URL('/.well-known/capsule', site.url))
    ).json()) as WellKnownDocument
    expect(wellKnown.peerId).toBe(data.ownerId)
    expect(wellKnown.siteUrl).toBe(site.url)
    expect(wellKnown.multiaddrs).toEqual(data.multiaddrs)
    expect(decodeRecord(Buffer.from(wellKnown.profile as string, 'base64')).body.kind).toBe('profile')
    expect(wellKnown.records).toBe(new URL('/.well-known/capsule/records', site.url).toString())
  })

  it('answers unknown paths, bad ids, bad cursors and writes with plain errors', async () => {
    const data = await owner()
    const post = data.post('bye')
    data.sign({ kind: 'delete', target: post.id })
    const site = await startPlain(data)
    expect((await fetch(new URL('/nope', site.url))).status).toBe(404)
    expect((await fetch(new URL('/r/not-an-id', site.url))).status).toBe(404)
    expect((await fetch(new URL(`/r/${post.id}`, site.url))).status).toBe(404)
    expect((await fetch(new URL('/?before=zzz', site.url))).status).toBe(400)
    expect((await fetch(new URL('/r/%E0%A4%A', site.url))).status).toBe(400)
    const write = await fetch(site.url, { method: 'POST', body: 'x' })
    expect(write.status).toBe(405)
    expect(write.headers.get('allow')).toBe('GET, HEAD')
    expect(write.headers.get('x-content-type-options')).toBe('nosniff')
    const head = await fetch(site.url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    const etag = head.headers.get('etag') as string
    expect((await fetch(site.url, { headers: { 'If-None-Match': etag } })).status).toBe(304)
  })

  it('drops a client that never finishes its headers', async () => {
    const data = await owner()
    const site = await startPlain(data, { headersTimeoutMs: 300, requestTimeoutMs: 400 })
    const port = site.addresses().http?.port as number
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n')
    const started = Date.now()
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk.toString()
    })
    await once(socket, 'close')
    expect(Date.now() - started).toBeLessThan(3000)
    expect(answer).toMatch(/^HTTP\/1.1 408/)
  })

  it('refuses oversized request headers', async () => {
    const data = await owner()
    const site = await startPlain(data, { maxHeaderBytes: 1024 })
    const response = await fetch(site.url, { headers: { 'X-Big': 'a'.repeat(4000) } })
    expect(response.status).toBe(431)
  })
})

describe('rendered pages kept until the owner’s records change', () => {
  async function get(site: Site, path: string, headers: Record<string, string> = {}) {
    const response = await fetch(new URL(path, site.url), { headers })
    return { status: response.status, etag: response.headers.get('etag'), body: await response.text() }
  }

  it('answers repeated requests with the same bytes and ETag, without reading the data again', async () => {
    const data = await owner()
    data.multiaddrs = ['/ip4/127.0.0.1/tcp/4001']
    data.sign({ kind: 'profile', name: 'Alice', bio: '' })
    const posts = [1, 2, 3, 4].map((n) => data.post(`post ${n}`))
    const site = await startPlain(data)
    const home = await get(site, '/')
    const older = /href="\/(\?before=[^"]+)"/.exec(home.body)?.[1]?.replaceAll('&#38;', '&')
    expect(older).toBeDefined()
    const paths = [
      '/',
      `/${older}`,
      `/r/${posts[0]?.id}`,
      `/r/${posts[0]?.id}.cbor`,
      '/feed.atom',
      '/.well-known/capsule',
      '/.well-known/capsule/records?after=2',
    ]
    const first = await Promise.all(paths.map((path) => get(site, path)))
    const reads = ['profile', 'page', 'record', 'recordsAfter', 'authorProfile'] as const
    const spies = reads.map((method) => vi.spyOn(data, method))
    const second = await Promise.all(paths.map((path) => get(site, path)))
    expect(second).toEqual(first)
    for (const answer of second) {
      expect(answer.status).toBe(200)
      expect(answer.etag).toMatch(/^"[\w-]{27}"$/)
    }
    for (const spy of spies) expect(spy).not.toHaveBeenCalled()
  })

  it('shows a new post, a new profile, and stops serving a deleted post', async () => {
    const data = await owner()
    data.sign({ kind: 'profile', name: 'Alice', bio: '' })
    data.post('old news')
    const site = await startPlain(data)
    const pages = ['/', '/feed.atom']
    for (const path of pages) expect((await get(site, path)).body).not.toContain('fresh news')

    const fresh = data.post('fresh news')
    for (const path of pages) expect((await get(site, path)).body).toContain('fresh news')
    expect((await get(site, `/r/${fresh.id}`)).status).toBe(200)

    data.sign({ kind: 'delete', target: fresh.id })
    for (const path of pages) expect((await get(site, path)).body).not.toContain('fresh news')
    expect((await get(site, `/r/${fresh.id}`)).status).toBe(404)
    expect((await get(site, `/r/${fresh.id}.cbor`)).status).toBe(404)

    const renamed = data.sign({ kind: 'profile', name: 'Alice Liddell', bio: '' })
    for (const path of pages) expect((await get(site, path)).body).toContain('Alice Liddell')
    const wellKnown = JSON.parse((await get(site, '/.well-known/capsule')).body) as WellKnownDocument
    expect(wellKnown.profile).toBe(Buffer.from(renamed.bytes).toString('base64'))
  })

  it('answers If-None-Match with 304 until the page changes', async () => {
    const data = await owner()
    data.post('hello')
    const site = await startPlain(data)
    const { etag } = await get(site, '/')
    const tag = etag as string
    for (const ifNoneMatch of [tag, `"elsewhere", ${tag}`, `W/${tag}`, '*']) {
      const response = await fetch(site.url, { headers: { 'If-None-Match': ifNoneMatch } })
      expect(response.status).toBe(304)
      expect(await response.text()).toBe('')
      expect(response.headers.get('etag')).toBe(tag)
      expect(response.headers.get('content-security-policy')).toMatch(/^default-src 'none'/)
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    }
    expect((await get(site, '/', { 'If-None-Match': '"elsewhere"' })).status).toBe(200)
    data.post('news')
    const changed = await get(site, '/', { 'If-None-Match': tag })
    expect(changed.status).toBe(200)
    expect(changed.etag).not.toBe(tag)
    expect(changed.body).toContain('news')
  })
})

describe('site client', () => {
  it('reads and verifies the well-known document and backfills verified records', async () => {
    const data = await owner()
    data.sign({ kind: 'profile', name: 'Alice', bio: '' })
    for (let i = 0; i < 130; i++) data.post(`n${i}`)
    const site = await startPlain(data)
    const identity = await fetchWellKnown(site.url)
    expect(identity.peerId).toBe(data.ownerId)
    expect(identity.profile.body.name).toBe('Alice')
    const all = await fetchRecordsFromSite(identity, { after: 0 })
    expect(all.map((r) => r.body.seq)).toEqual(Array.from({ length: 131 }, (_, i) => i + 1))
    const tail = await fetchRecordsFromSite(identity, { after: 126 })
    expect(tail.map((r) => (r.body as PostBody).text)).toEqual(['n125', 'n126', 'n127', 'n128', 'n129'])
    const capped = await fetchRecordsFromSite(identity, { after: 0, maxRecords: 7 })
    expect(capped).toHaveLength(7)
  })

  it('refuses a site whose profile is signed by someone else', async () => {
    const alice = await owner()
    const mallory = await owner()
    const forged = mallory.sign({ kind: 'profile', name: 'Alice', bio: '' })
    const fake = Object.assign(Object.create(alice), { profile: () => forged }) as MemorySiteData
    const site = await startPlain(fake)
    await expect(fetchWellKnown(site.url)).rejects.toMatchObject({
      name: 'SiteClientError',
      code: 'wrong-author',
    })
  })

  it('refuses a site without a profile, a non-Capsule site, and bad input', async () => {
    const site = await startPlain(await owner())
    await expect(fetchWellKnown(site.url)).rejects.toMatchObject({ code: 'no-profile' })
    const other = http.createServer((_req, res) => res.writeHead(404).end('no'))
    servers.push(other)
    other.listen(0, '127.0.0.1')
    await once(other, 'listening')
    const port = (other.address() as { port: number }).port
    await expect(fetchWellKnown(`http://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'http-status' })
    expect(() => parseSiteTarget('not a domain!')).toThrow(SiteClientError)
    expect(parseSiteTarget('Alice.Example').href).toBe('https://alice.example/')
    expect(parseSiteTarget('https://alice.example/some/page').href).toBe('https://alice.example/')
    await expect(fetchWellKnown('https://127.0.0.1:1')).rejects.toMatchObject({ code: 'unreachable' })
  })

  it('refuses backfilled records by another author', async () => {
    const alice = await owner()
    alice.sign({ kind: 'profile', name: 'Alice', bio: '' })
    const mallory = await owner()
    const bad = mallory.post('not alice') as VerifiedRecord
    const fake = Object.assign(Object.create(alice), { recordsAfter: () => [bad.bytes] }) as MemorySiteData
    const site = await startPlain(fake)
    const identity = await fetchWellKnown(site.url)
    await expect(fetchRecordsFromSite(identity, { after: 0 })).rejects.toMatchObject({ code: 'wrong-author' })
  })
})
