import type { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import type { TLSSocket } from 'node:tls'
import { createSigner } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryCertificateStore } from './certificate-store.js'
import type { SiteConfig } from './config.js'
import { lookupFrom } from './fetch.js'
import type { CertificateStore, Logger } from './interfaces.js'
import { createSite, type Site, type SiteEvents } from './site.js'
import { fetchWellKnown } from './site-client.js'
import { selfSignedCertificate } from './testing/certificates.js'
import { MemorySiteData } from './testing/memory-site-data.js'
import { freePort, type Pebble, startPebble } from './testing/pebble.js'

const log: string[] = []
const logger: Logger = {
  info: (m, f) => log.push(`info ${m} ${JSON.stringify(f ?? {})}`),
  warn: (m, f) => log.push(`warn ${m} ${JSON.stringify(f ?? {})}`),
  error: (m, f) => log.push(`error ${m} ${JSON.stringify(f ?? {})}`),
}

let pebble: Pebble
let httpPort: number
let root: string
const sites: Site[] = []

beforeAll(async () => {
  httpPort = await freePort('127.0.0.2')
  pebble = await startPebble({ httpPort })
  root = await pebble.rootCertificate()
})

afterAll(async () => {
  await Promise.all(sites.map((s) => s.stop()))
  await pebble?.stop()
})

async function ownerData(): Promise<MemorySiteData> {
  const data = new MemorySiteData(createSigner(await generateKeyPair('Ed25519')))
  data.sign({ kind: 'profile', name: 'Alice', bio: 'On pebble' })
  data.post('Hello from capsule-a <script>alert(1)</script>')
  return data
}

function config(domain: string, host: string, overrides: Partial<SiteConfig> = {}): SiteConfig {
  return {
    domain,
    email: 'owner@capsule-a.test',
    acmeDirectoryUrl: pebble.directoryUrl,
    acmeCaPem: pebble.apiCaPem,
    siteHost: host,
    httpPort,
    httpsPort: 0,
    resolve: pebble.resolve,
    renewalCheckIntervalMs: 250,
    acmePollMs: { min: 100, max: 500, attempts: 30 },
    retry: { preflightBaseMs: 300, orderBaseMs: 600, maxMs: 10_000 },
    ...overrides,
  }
}

async function start(
  domain: string,
  host: string,
  data: MemorySiteData,
  store: CertificateStore,
  overrides: Partial<SiteConfig> = {},
): Promise<Site> {
  const site = createSite(config(domain, host, overrides), { data, certificates: store, logger })
  sites.push(site)
  await site.start()
  return site
}

async function stopSite(site: Site): Promise<void> {
  await site.stop()
  sites.splice(sites.indexOf(site), 1)
}

function certificateEvent(site: Site, reason: 'stored' | 'issued'): Promise<SiteEvents['certificate'][0]> {
  return new Promise((resolve) => {
    const on = (event: SiteEvents['certificate'][0]) => {
      if (event.reason !== reason) return
      site.off('certificate', on)
      resolve(event)
    }
    site.on('certificate', on)
  })
}

/** GET over real TLS, resolving the test name through pebble's DNS and trusting pebble's root. */
function get(
  url: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; peer?: X509Certificate }> {
  const secure = url.startsWith('https:')
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).get(
      url,
      { lookup: lookupFrom(pebble.resolve), agent: false, ...(secure ? { ca: root } : {}) },
      (response) => {
        let body = ''
        const raw = secure ? (response.socket as TLSSocket).getPeerX509Certificate() : undefined
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body,
            ...(raw ? { peer: raw } : {}),
          }),
        )
      },
    )
    request.on('error', reject)
  })
}

describe('certificates from a real ACME server (pebble)', () => {
  it('gets a certificate, serves HTTPS, redirects HTTP, reuses it after a restart, and renews without a restart', async () => {
    await pebble.addA('capsule-a.test', ['127.0.0.2'])
    const data = await ownerData()
    const store = memoryCertificateStore()

    const site = await start('capsule-a.test', '127.0.0.2', data, store, { renewalCheckIntervalMs: 60_000 })
    const issued = await certificateEvent(site, 'issued')
    expect(issued.info.issuer).toContain('Pebble')
    expect(store.certificate('capsule-a.test')?.certificatePem).toBe(issued.certificate.certificatePem)
    expect(store.accountKey()).toContain('PRIVATE KEY')
    const httpsPort = site.addresses().https?.port as number
    expect(site.url).toBe(`https://capsule-a.test:${httpsPort}/`)

    const page = await get(site.url)
    expect(page.status).toBe(200)
    expect(page.body).toContain('Hello from capsule-a &#60;script&#62;')
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000')
    expect(page.peer?.checkHost('capsule-a.test')).toBe('capsule-a.test')

    const redirect = await get(`http://capsule-a.test:${httpPort}/r/x?y=1`)
    expect(redirect.status).toBe(301)
    expect(redirect.headers.location).toBe(`https://capsule-a.test:${httpsPort}/r/x?y=1`)
    const sneaky = await get(`http://capsule-a.test:${httpPort}//elsewhere.example/x`)
    expect(sneaky.headers.location).toBe(`https://capsule-a.test:${httpsPort}//elsewhere.example/x`)

    const identity = await fetchWellKnown(site.url, { resolve: pebble.resolve, ca: root })
    expect(identity.peerId).toBe(data.ownerId)
    expect(identity.siteUrl).toBe(site.url)

    // A restart takes the stored certificate and orders nothing.
    await stopSite(site)
    const again = createSite(config('capsule-a.test', '127.0.0.2', { renewalCheckIntervalMs: 250 }), {
      data,
      certificates: store,
      logger,
    })
    sites.push(again)
    let orders = 0
    again.on('ordering', () => orders++)
    const stored = certificateEvent(again, 'stored')
    await again.start()
    expect((await stored).certificate.certificatePem).toBe(issued.certificate.certificatePem)
    await again.checkCertificate()
    expect(orders).toBe(0)
    const portBefore = again.addresses().https?.port
    const before = await get(again.url)
    expect(before.peer?.serialNumber).toBe(issued.info.serialNumber)

    // Make the certificate look close to expiry (two thirds of its lifetime gone), as a database
    // edit would: the running site picks it up on its timer, renews, and swaps the context.
    const day = 24 * 60 * 60 * 1000
    const old = await selfSignedCertificate({
      domain: 'capsule-a.test',
      notBefore: new Date(Date.now() - 20 * day),
      notAfter: new Date(Date.now() + 2 * day),
    })
    const renewed = certificateEvent(again, 'issued')
    store.saveCertificate({ ...issued.certificate, ...old, issuedAt: Date.now() - 20 * day })
    const fresh = await renewed
    expect(orders).toBe(1)
    expect(fresh.info.issuer).toContain('Pebble')
    expect(fresh.info.serialNumber).not.toBe(issued.info.serialNumber)
    const after = await get(again.url)
    expect(again.addresses().https?.port).toBe(portBefore)
    expect(after.status).toBe(200)
    expect(after.peer?.serialNumber).toBe(fresh.info.serialNumber)
    await stopSite(again)
  })

  it('names the reason when the CA cannot reach the node, backs off, and keeps serving HTTP', async () => {
    // Pebble is told capsule-b.test lives at 127.0.0.6, where nothing listens; the node's own
    // preflight (given its own resolver) sees itself at 127.0.0.5 and passes.
    await pebble.addA('capsule-b.test', ['127.0.0.6'])
    const data = await ownerData()
    const site = await start('capsule-b.test', '127.0.0.5', data, memoryCertificateStore(), {
      resolve: async () => ['127.0.0.5'],
    })
    const first = (await once(site, 'certificate-error'))[0] as SiteEvents['certificate-error'][0]
    expect(first.error.code).toBe('connection')
    expect(first.error.message).toMatch(
      /^The CA could not connect to capsule-b\.test on port \d+ .*Make sure capsule-b\.test points at this machine/,
    )
    expect(first.failures).toBe(1)
    const firstAt = Date.now()
    const second = (await once(site, 'certificate-error'))[0] as SiteEvents['certificate-error'][0]
    expect(second.failures).toBe(2)
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(550)
    expect(second.retryAt - Date.now()).toBeGreaterThan(900)
    const page = await fetch(`http://127.0.0.5:${httpPort}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('Hello from capsule-a')
    expect(log.some((l) => l.startsWith('warn The CA could not connect to capsule-b.test'))).toBe(true)
    await stopSite(site)
  })
})
