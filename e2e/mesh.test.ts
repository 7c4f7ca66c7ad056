import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { capsuleFile, cliEnv, Daemon, eventually, ok, okJson, tempHome } from './harness.js'
import { HostilePeer } from './hostile-peer.js'

const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--private-network', '--http-port', '0']
const daemons: Daemon[] = []

interface RecordJson {
  id: string
  kind: string
  author: string
  ts: number
  text?: string
  original?: RecordJson
}

async function up(home: string, args: string[] = []): Promise<Daemon> {
  const daemon = await Daemon.start(home, [...LISTEN, ...args])
  daemons.push(daemon)
  return daemon
}

async function feedOf(home: string, limit = 100): Promise<RecordJson[]> {
  return (await okJson<{ records: RecordJson[] }>(home, ['feed', '--limit', String(limit)])).records
}

async function idOf(home: string): Promise<{ peerId: string; multiaddrs: string[] }> {
  return okJson(home, ['id'])
}

/** Resolves once `home`'s feed satisfies `check`. */
function feedWhere(home: string, check: (feed: RecordJson[]) => boolean, timeoutMs: number, what: string) {
  return eventually(
    async () => {
      const feed = await feedOf(home)
      return check(feed) ? feed : undefined
    },
    timeoutMs,
    what,
  )
}

/** A `capsule tail --json` on a node, collecting what it prints. */
function tail(home: string) {
  const child = spawn(capsuleFile, ['--home', home, 'tail', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cliEnv(),
  })
  const lines: { origin: string; receivedAt: number; record: RecordJson }[] = []
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line)))
  // The tail says on stderr when the daemon has accepted the stream; records after that all show.
  const open = once(createInterface({ input: child.stderr }), 'line')
  return { lines, open, stop: () => child.kill('SIGINT') }
}

afterAll(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop('SIGKILL')))
})

describe('the mesh, between real daemons on 127.0.0.1', () => {
  const home = { a: tempHome('a'), b: tempHome('b'), c: tempHome('c'), d: tempHome('d') }
  const nodes: Record<string, Daemon> = {}
  let a = ''
  let b = ''
  let firstPost = ''

  it('delivers a post to a follower within 2 s, and its tail prints it', async () => {
    nodes.a = await up(home.a)
    const joinA = (await idOf(home.a)).multiaddrs[0]!
    nodes.b = await up(home.b, ['--join', joinA])
    nodes.c = await up(home.c, ['--join', joinA])
    a = (await idOf(home.a)).peerId
    b = (await idOf(home.b)).peerId
    await ok(home.b, ['follow', a])
    const bTail = tail(home.b)
    await bTail.open
    const started = Date.now()
    firstPost = (await okJson<{ id: string }>(home.a, ['post', 'hello from A'])).id
    await feedWhere(home.b, (feed) => feed.some((r) => r.id === firstPost), 2000, 'A’s post on B')
    expect(Date.now() - started).toBeLessThan(2000)
    const line = await eventually(
      async () => bTail.lines.find((line) => line.record.id === firstPost),
      2000,
      'tail on B',
    )
    bTail.stop()
    expect(line.origin).toBe('mesh')
    // When B stored it: after A signed it (same clock here), and before the test saw it.
    expect(line.receivedAt).toBeGreaterThanOrEqual(line.record.ts)
    expect(line.receivedAt).toBeLessThanOrEqual(Date.now())
    // B follows A, and A (subscribed to its own topic) joins B's gossip mesh for it at a heartbeat.
    const follows = await eventually(
      async () => {
        const { follows } = await okJson<{ follows: { author: string; meshPeers: number }[] }>(home.b, [
          'following',
        ])
        return follows[0]?.meshPeers ? follows : undefined
      },
      5000,
      'A in B’s gossip mesh',
    )
    expect(follows).toEqual([expect.objectContaining({ author: a, meshPeers: expect.any(Number) })])
    expect(await ok(home.b, ['following'])).toMatch(new RegExp(`^${a}  [1-9]\\d* mesh peers?\\n$`))
    expect((await okJson<{ peers: unknown[] }>(home.b, ['peers'])).peers.length).toBeGreaterThan(0)
  })

  it('carries a reshare with its original to a follower of the resharer only', async () => {
    await ok(home.c, ['follow', b])
    await ok(home.b, ['reshare', firstPost])
    const feed = await feedWhere(home.c, (f) => f.some((r) => r.kind === 'reshare'), 5000, 'the reshare on C')
    const reshare = feed.find((r) => r.kind === 'reshare')!
    expect(reshare.author).toBe(b)
    expect(reshare.original).toMatchObject({ id: firstPost, author: a, text: 'hello from A' })
  })

  it('catches up after a restart without a new post, and serves a new follower while the author is away', async () => {
    await nodes.b!.stop()
    const posted: string[] = []
    for (let n = 0; n < 50; n++)
      posted.push((await okJson<{ id: string }>(home.a, ['post', `catch-up ${n}`])).id)
    nodes.b = await up(home.b)
    await feedWhere(
      home.b,
      (feed) => posted.every((id) => feed.some((r) => r.id === id)),
      10_000,
      'all 50 on B',
    )
    await nodes.a!.stop()
    const joinB = (await idOf(home.b)).multiaddrs[0]!
    nodes.d = await up(home.d, ['--join', joinB])
    await ok(home.d, ['follow', a])
    await feedWhere(
      home.d,
      (feed) => posted.every((id) => feed.some((r) => r.id === id)),
      10_000,
      'A’s records on D, from B',
    )
  })

  it('propagates a delete: every holder drops the post', async () => {
    nodes.a = await up(home.a)
    const victim = (await feedOf(home.a)).find((r) => r.text === 'catch-up 7')!.id
    await ok(home.a, ['delete', victim])
    for (const holder of [home.b, home.d]) {
      await feedWhere(holder, (feed) => !feed.some((r) => r.id === victim), 10_000, 'the delete')
    }
  })

  it('rejects forged, oversized and misattributed records from a plain libp2p peer, and stays up', async () => {
    const hostile = await HostilePeer.start()
    try {
      const before = await okJson<{ records: number }>(home.b, ['status'])
      const dReceived = (await feedOf(home.d, 500)).length
      await hostile.connect((await idOf(home.b)).multiaddrs[0]!)
      const sent = await hostile.publishForgeries(a)
      expect(sent).toBe(3)
      // An honest post sent after the forgeries arrives: the forgeries had their turn first.
      const honest = (await okJson<{ id: string }>(home.a, ['post', 'still honest'])).id
      await feedWhere(home.b, (feed) => feed.some((r) => r.id === honest), 5000, 'the honest post on B')
      await feedWhere(home.d, (feed) => feed.some((r) => r.id === honest), 5000, 'the honest post on D')
      const after = await okJson<{ records: number; running: boolean }>(home.b, ['status'])
      expect(after.running).toBe(true)
      expect(after.records).toBe(before.records + 1)
      expect((await feedOf(home.d, 500)).length).toBe(dReceived + 1)
      const rejections = nodes.b!.lines.filter((line) => line.includes('rejected a gossiped record'))
      expect(rejections.map((line) => /reason=(\S+)/.exec(line)?.[1])).toEqual([
        'bad-signature',
        'too-large',
        'wrong-author',
      ])
      // D is connected to B and follows A: had B forwarded a forgery, D would have rejected it too.
      expect(nodes.d!.lines.some((line) => line.includes('rejected a gossiped record'))).toBe(false)
    } finally {
      await hostile.stop()
    }
  })
})

describe('ten nodes', () => {
  it('one author, nine followers: every post reaches all nine', async () => {
    const author = tempHome('author')
    await up(author)
    const { peerId, multiaddrs } = await idOf(author)
    const followers: string[] = []
    for (let n = 0; n < 9; n++) {
      const home = tempHome(`f${n}`)
      // Not a star: each follower joins the author or an earlier follower.
      const join = n < 2 ? multiaddrs[0]! : (await idOf(followers[n - 2]!)).multiaddrs[0]!
      await up(home, ['--join', join])
      await ok(home, ['follow', peerId])
      followers.push(home)
    }
    const posts: string[] = []
    for (let n = 0; n < 10; n++)
      posts.push((await okJson<{ id: string }>(author, ['post', `to all ${n}`])).id)
    for (const home of followers) {
      await feedWhere(
        home,
        (feed) => posts.every((id) => feed.some((r) => r.id === id)),
        10_000,
        `posts on ${home}`,
      )
    }
  })
})
