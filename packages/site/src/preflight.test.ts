import { once } from 'node:events'
import http from 'node:http'
import { createSigner } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { memoryCertificateStore } from './certificate-store.js'
import type { Logger } from './interfaces.js'
import { createSite, type Site, type SiteEvents } from './site.js'
import { MemorySiteData } from './testing/memory-site-data.js'

const warnings: string[] = []
const logger: Logger = { info: () => {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) }
const running: Site[] = []
const servers: http.Server[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
})

async function siteFor(resolve: (host: string) => Promise<string[]>): Promise<Site> {
  const data = new MemorySiteData(createSigner(await generateKeyPair('Ed25519')))
  data.post('still readable')
  const site = createSite(
    {
      domain: 'capsule-a.test',
      // Never contacted: every case here fails before the CA.
      acmeDirectoryUrl: 'https://127.0.0.1:9/dir',
      siteHost: '127.0.0.1',
      httpPort: 0,
      httpsPort: 0,
      resolve,
      retry: { preflightBaseMs: 150, orderBaseMs: 150, maxMs: 10_000 },
    },
    { data, certificates: memoryCertificateStore(), logger },
  )
  running.push(site)
  return site
}

function nextError(site: Site): Promise<SiteEvents['certificate-error'][0]> {
  return once(site, 'certificate-error').then(([event]) => event as SiteEvents['certificate-error'][0])
}

describe('preflight before ordering a certificate', () => {
  it('says in plain words that nothing answers on the HTTP port, backs off, and keeps serving HTTP', async () => {
    const site = await siteFor(async () => ['127.0.0.3'])
    const first = nextError(site)
    await site.start()
    const a = await first
    expect(a.error.code).toBe('port-closed')
    expect(a.error.message).toMatch(
      /^Port \d+ on capsule-a\.test \(127\.0\.0\.3\) does not answer: the connection was refused/,
    )
    expect(a.failures).toBe(1)
    const b = await nextError(site)
    expect(b.failures).toBe(2)
    const c = await nextError(site)
    // Doubling: the gap before the third attempt is about twice the gap before the second.
    expect(c.retryAt - b.retryAt).toBeGreaterThan(1.5 * (b.retryAt - a.retryAt))
    expect(site.certificateStatus()).toMatchObject({ state: 'none', failures: 3 })
    const page = await fetch(`http://127.0.0.1:${site.addresses().http?.port}/`)
    expect(site.url).toMatch(/^http:\/\/capsule-a\.test:\d+\/$/)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('still readable')
    expect(warnings.some((w) => w.includes('does not answer'))).toBe(true)
  })

  it('says when another server answers on the name', async () => {
    const site = await siteFor(async () => ['127.0.0.4'])
    const first = nextError(site)
    // Learn the port first, then put a stranger on the same port at the address the name points to.
    const other = http.createServer((_req, res) => res.writeHead(404).end('not me'))
    servers.push(other)
    await site.start()
    other.listen(site.addresses().http?.port, '127.0.0.4')
    await once(other, 'listening')
    let event = await first
    // The first attempt may race the stranger's start; the next one must see it.
    while (event.error.code === 'port-closed') event = await nextError(site)
    expect(event.error.code).toBe('wrong-answer')
    expect(event.error.message).toContain('answers, but not with this node')
  })

  it('says when the name does not resolve', async () => {
    const site = await siteFor(async () => {
      throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' })
    })
    const first = nextError(site)
    await site.start()
    const event = await first
    expect(event.error.code).toBe('dns')
    expect(event.error.message).toContain(
      'The name capsule-a.test does not resolve (it has no A or AAAA record)',
    )
  })
})
