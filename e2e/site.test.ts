import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, type Pebble, startPebble } from '@capsule/site/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Daemon, eventually, ok, okJson, tempHome } from './harness.js'

const DOMAIN = 'capsule-a.test'
/** The node's site answers on its own loopback address, as a public server would on its own IP. */
const SITE_IP = '127.0.0.2'
const MESH = ['--listen', '/ip4/127.0.0.1/tcp/0', '--private-network']

let pebble: Pebble
let env: Record<string, string>
let httpPort: number
let httpsPort: number
let rootFile: string
const daemons: Daemon[] = []

async function up(home: string, args: string[]): Promise<Daemon> {
  const daemon = await Daemon.start(home, [...MESH, ...args], env)
  daemons.push(daemon)
  return daemon
}

function siteArgs(domain = DOMAIN, host = SITE_IP): string[] {
  return [
    '--domain',
    domain,
    '--email',
    'owner@capsule-a.test',
    '--acme-directory',
    pebble.directoryUrl,
    '--site-host',
    host,
    '--http-port',
    String(httpPort),
    '--https-port',
    String(httpsPort),
    '--dns-server',
    pebble.dnsServer,
  ]
}

/** curl with pebble's root, the name pinned to the site's address like DNS would. */
function curl(args: string[]): string {
  const resolve = [`${DOMAIN}:${httpsPort}:${SITE_IP}`, `${DOMAIN}:${httpPort}:${SITE_IP}`]
  return execFileSync('curl', [
    '-s',
    '--cacert',
    rootFile,
    ...resolve.flatMap((r) => ['--resolve', r]),
    ...args,
  ]).toString()
}

beforeAll(async () => {
  httpPort = await freePort(SITE_IP)
  httpsPort = await freePort(SITE_IP)
  pebble = await startPebble({ httpPort })
  await pebble.addA(DOMAIN, [SITE_IP])
  env = { NODE_EXTRA_CA_CERTS: await pebble.caBundleFile() }
  rootFile = join(pebble.dir, 'issuing-root.pem')
  writeFileSync(rootFile, await pebble.rootCertificate())
})

afterAll(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop('SIGKILL')))
  await pebble?.stop()
})

describe('the HTTPS site, with a certificate from a real ACME server (pebble)', () => {
  const home = tempHome('site-a')

  it('gets a certificate, serves the posts over HTTPS, and redirects HTTP', async () => {
    await ok(home, ['init', '--name', 'Alice'])
    const a = await up(home, siteArgs())
    await a.waitForLine((line) => line.includes('certificate issued'))
    const homePage = `https://${DOMAIN}:${httpsPort}/`
    // Seen once before the post, so the site holds a rendered page the post must replace.
    expect(curl([homePage])).toContain('Nothing posted yet')
    await ok(home, ['post', 'Hello over <script>alert(1)</script> HTTPS'])
    const page = curl([homePage])
    expect(page).toContain('Hello over &#60;script&#62;alert(1)&#60;/script&#62; HTTPS')
    expect(page).not.toContain('<script>alert')
    const regret = (await okJson<{ id: string }>(home, ['post', 'a post to regret'])).id
    const permalink = `${homePage}r/${regret}`
    expect(curl([homePage])).toContain('a post to regret')
    expect(curl(['-o', '/dev/null', '-w', '%{http_code}', permalink])).toBe('200')
    await ok(home, ['delete', regret])
    expect(curl([homePage])).not.toContain('a post to regret')
    expect(curl(['-o', '/dev/null', '-w', '%{http_code}', permalink])).toBe('404')
    const headers = curl(['-I', homePage])
    expect(headers).toMatch(/strict-transport-security/i)
    expect(headers).toMatch(/content-security-policy/i)
    const redirect = curl(['-I', `http://${DOMAIN}:${httpPort}/some/page`])
    expect(redirect).toMatch(/^HTTP\/1\.1 301/)
    expect(redirect).toMatch(new RegExp(`location: https://${DOMAIN}:${httpsPort}/some/page`, 'i'))
    const stored = execFileSync('sqlite3', [
      join(home, 'capsule.db'),
      `SELECT count(*) FROM settings WHERE key = 'site.certificate.${DOMAIN}'`,
    ])
    expect(stored.toString().trim()).toBe('1')
    const profile = await okJson<{ profile: { site?: string } }>(home, ['profile'])
    expect(profile.profile.site).toBe(`https://${DOMAIN}:${httpsPort}/`)
  })

  it('orders no new certificate after a restart', async () => {
    await daemons[0]!.stop()
    const again = await up(home, siteArgs())
    await again.waitForLine((line) => line.includes('certificate stored'))
    expect(again.lines.some((line) => line.includes('certificate issued') || line.includes('ordering'))).toBe(
      false,
    )
    expect(curl([`https://${DOMAIN}:${httpsPort}/`])).toContain('Hello over')
  })

  it('lets another node follow it by name and receive its posts through the mesh', async () => {
    const b = tempHome('site-b')
    const joinA = (await okJson<{ multiaddrs: string[] }>(home, ['id'])).multiaddrs[0]!
    await up(b, ['--http-port', '0', '--join', joinA, '--dns-server', pebble.dnsServer])
    const followed = await okJson<{ author: string; site: string; stored: number }>(
      b,
      ['follow', `https://${DOMAIN}:${httpsPort}`],
      { env },
    )
    const alice = (await okJson<{ peerId: string }>(home, ['id'])).peerId
    expect(followed.author).toBe(alice)
    const next = (await okJson<{ id: string }>(home, ['post', 'after the follow by name'])).id
    await eventually(
      async () => {
        const feed = await okJson<{ records: { id: string; author: string }[] }>(b, ['feed'])
        return feed.records.find((record) => record.id === next)
      },
      5000,
      'A’s post on B',
    )
  })

  it('backfills from the site when the mesh cannot reach the author', async () => {
    const alice = (await okJson<{ peerId: string }>(home, ['id'])).peerId
    const before = (await okJson<{ records: { id: string }[] }>(home, ['feed', '--limit', '500'])).records
    // A follower that knows no peer, told by the site to dial the author at an address where nobody listens.
    await daemons.find((daemon) => daemon.home === home && daemon.child.exitCode === null)!.stop()
    const a = await up(home, [...siteArgs(), '--announce', '/ip4/127.0.0.1/tcp/9'])
    await a.waitForLine((line) => line.includes('certificate stored'))
    const lonely = tempHome('site-lonely')
    await up(lonely, ['--http-port', '0', '--dns-server', pebble.dnsServer])
    const followed = await okJson<{ author: string; authorReached: boolean; stored: number }>(
      lonely,
      ['follow', `https://${DOMAIN}:${httpsPort}`],
      { env },
    )
    expect(followed).toMatchObject({ author: alice, authorReached: false })
    expect(followed.stored).toBeGreaterThanOrEqual(before.length)
    const feed = await okJson<{ records: { id: string }[] }>(lonely, ['feed', '--limit', '500'])
    expect(feed.records.map((record) => record.id).sort()).toEqual(before.map((record) => record.id).sort())
  })

  it('names the reason in plain words when the CA cannot reach the node, and keeps the mesh running', async () => {
    const home = tempHome('site-c')
    await pebble.addA('capsule-c.test', ['127.0.0.3'])
    // The name points at 127.0.0.3, but the node's site listens on another address: nobody answers.
    const c = await up(home, siteArgs('capsule-c.test', '127.0.0.4'))
    const warning = await c.waitForLine((line) => line.includes('could not get a certificate'))
    expect(warning).toMatch(/retryAt=/)
    expect(warning.toLowerCase()).toMatch(/port|reach|connect/)
    const status = await okJson<{ running: boolean; multiaddrs: string[] }>(home, ['status'])
    expect(status.running).toBe(true)
    expect(status.multiaddrs.length).toBeGreaterThan(0)
  })
})
