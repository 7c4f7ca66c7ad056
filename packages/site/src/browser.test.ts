import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSigner, type PostBody, type VerifiedRecord } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryCertificateStore } from './certificate-store.js'
import { createSite, type Site } from './site.js'
import { MemorySiteData } from './testing/memory-site-data.js'

// The callbacks passed to page.evaluate run in the browser; these are the few DOM names they use
// (the test program is compiled without the DOM library).
interface XmlNode {
  textContent: string | null
  namespaceURI: string | null
}
interface XmlDocument {
  documentElement: XmlNode
  getElementsByTagName(name: string): ArrayLike<XmlNode>
  getElementsByTagNameNS(ns: string, name: string): ArrayLike<XmlNode> & Iterable<XmlNode>
}
declare const window: { violations?: string[]; innerWidth: number }
declare const document: {
  scripts: ArrayLike<unknown>
  body: unknown
  documentElement: { scrollWidth: number }
  addEventListener(
    type: string,
    listener: (event: { violatedDirective: string; blockedURI: string }) => void,
  ): void
}
declare function getComputedStyle(element: unknown): { fontFamily: string; backgroundColor: string }
declare const DOMParser: { new (): { parseFromString(source: string, type: string): XmlDocument } }

const artifacts = fileURLToPath(new URL('../../../e2e/artifacts/', import.meta.url))
const logger = { info: () => {}, warn: () => {}, error: () => {} }

let site: Site
let data: MemorySiteData
let browser: Browser
let firstPost: VerifiedRecord

beforeAll(async () => {
  data = new MemorySiteData(createSigner(await generateKeyPair('Ed25519')))
  const bob = new MemorySiteData(createSigner(await generateKeyPair('Ed25519')), Date.UTC(2024, 11, 30))
  const bobProfile = bob.sign({ kind: 'profile', name: 'Bob Okafor', bio: '' })
  const bobPost = bob.post(
    'Small nodes, big mesh. Everyone runs their own server and the mesh carries the rest.',
  )
  data.addAuthorProfile(bobProfile as never)
  data.sign({
    kind: 'profile',
    name: 'Alice Martin',
    bio: 'Writing about decentralised networks, bread and bicycles. This is my Capsule: every post here is signed by my own node.',
  })
  firstPost = data.post('Hello, mesh! This is my first post from my own node.')
  data.post('Post text with markup shows as text: <script>alert("xss")</script> & <b>not bold</b>')
  data.sign({ kind: 'reshare', original: bobPost as VerifiedRecord<PostBody> })
  data.post(
    'Read more at https://example.org/capsule (links work, no scripts needed).\n\nLine breaks are kept, too.',
  )
  data.post('Une ligne en français, 日本語のテキスト, and an emoji 🚲.')
  site = createSite({ httpPort: 0, pageSize: 20 }, { data, certificates: memoryCertificateStore(), logger })
  await site.start()
  await mkdir(artifacts, { recursive: true })
  // launch() gives the browser a fresh temporary profile of its own and removes it on close.
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await site?.stop()
})

interface Watched {
  page: Page
  context: BrowserContext
  problems: string[]
}

async function open(options: {
  colorScheme: 'light' | 'dark'
  viewport: { width: number; height: number }
}): Promise<Watched> {
  const context = await browser.newContext({ ...options, deviceScaleFactor: 1 })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning')
      problems.push(`console ${message.type()}: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`))
  // Runs through the DevTools protocol, outside the page's CSP: records every violation.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.violations ??= []
      window.violations.push(`${event.violatedDirective} ${event.blockedURI}`)
    })
  })
  return { page, context, problems }
}

async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => window.violations ?? [])
}

describe('the site in headless Chromium', () => {
  it('renders the home page and a permalink with no console errors and no CSP violations', async () => {
    const { page, context, problems } = await open({
      colorScheme: 'light',
      viewport: { width: 390, height: 844 },
    })
    const response = await page.goto(site.url, { waitUntil: 'load' })
    expect(response?.status()).toBe(200)
    const text = await page.locator('main').textContent()
    expect(text).toContain('Hello, mesh! This is my first post from my own node.')
    expect(text).toContain('<script>alert("xss")</script> & <b>not bold</b>')
    expect(text).toContain('Alice Martin reshared')
    expect(text).toContain('Bob Okafor')
    expect(await page.evaluate(() => document.scripts.length)).toBe(0)
    expect(await page.locator('main b').count()).toBe(0)
    // The hashed stylesheet applied: the page is not in the browser's default serif.
    expect(await page.evaluate(() => getComputedStyle(document.body).fontFamily)).toContain('system-ui')
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true)
    await page.screenshot({ path: join(artifacts, 'site-home-phone.png'), fullPage: true })

    await page.click(`a[href="/r/${firstPost.id}"]`)
    await page.waitForURL(`**/r/${firstPost.id}`)
    expect(await page.locator('main').textContent()).toContain(
      'Hello, mesh! This is my first post from my own node.',
    )
    expect(await page.locator(`a[href="/r/${firstPost.id}.cbor"]`).count()).toBe(1)
    await page.screenshot({ path: join(artifacts, 'site-permalink-phone.png'), fullPage: true })
    expect(await violations(page)).toEqual([])
    expect(problems).toEqual([])
    await context.close()
  })

  it('looks right in dark mode on a wide screen', async () => {
    const { page, context, problems } = await open({
      colorScheme: 'dark',
      viewport: { width: 1280, height: 900 },
    })
    await page.goto(site.url, { waitUntil: 'load' })
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    expect(background).toBe('rgb(20, 19, 17)')
    await page.screenshot({ path: join(artifacts, 'site-home-dark.png'), fullPage: true })
    expect(await violations(page)).toEqual([])
    expect(problems).toEqual([])
    await context.close()
  })

  it('serves an Atom feed that a real XML parser reads, with an entry per post', async () => {
    const { page, context } = await open({ colorScheme: 'light', viewport: { width: 800, height: 600 } })
    await page.goto(site.url)
    const xml = await (await page.request.get(new URL('/feed.atom', site.url).toString())).text()
    const result = await page.evaluate((source) => {
      const doc = new DOMParser().parseFromString(source, 'application/xml')
      const error = doc.getElementsByTagName('parsererror')[0] as XmlNode | undefined
      const atom = 'http://www.w3.org/2005/Atom'
      return {
        error: error?.textContent ?? null,
        root: doc.documentElement.namespaceURI,
        entries: doc.getElementsByTagNameNS(atom, 'entry').length,
        texts: [...doc.getElementsByTagNameNS(atom, 'content')].map((c) => c.textContent),
      }
    }, xml)
    expect(result.error).toBeNull()
    expect(result.root).toBe('http://www.w3.org/2005/Atom')
    expect(result.entries).toBe(data.page({ limit: 50 }).records.length)
    expect(result.texts).toContain(
      'Post text with markup shows as text: <script>alert("xss")</script> & <b>not bold</b>',
    )
    await context.close()
  })
})
