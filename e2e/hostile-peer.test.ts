import { authorTopic, MAX_RECORD_BYTES } from '@capsule/core'
import { afterAll, describe, expect, it } from 'vitest'
import { Daemon, eventually, ok, okJson, tempHome } from './harness.js'
import { Mallory } from './hostile-mallory.js'
import { relabel } from './hostile-peer.js'
import { rssKiB, sql } from './hostile-tools.js'

// One malicious plain-libp2p peer against a real daemon (B), while an honest author (A) keeps
// posting to B and to C (who reaches A's posts through B). CAPSULE_HOSTILE_FULL=1 floods longer.
const FULL = process.env.CAPSULE_HOSTILE_FULL === '1'
const FLOOD = FULL ? 20_000 : 2_000
const SYNC_ABUSE = FULL ? 500 : 200
const HONEST_POSTS = FULL ? 20 : 5
const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--private-network']
const daemons: Daemon[] = []
let mallory: Mallory | undefined

async function up(home: string, args: string[] = []): Promise<Daemon> {
  const daemon = await Daemon.start(home, [...LISTEN, ...args])
  daemons.push(daemon)
  return daemon
}

async function has(home: string, id: string): Promise<boolean> {
  return (await okJson<{ records: { id: string }[] }>(home, ['feed', '--limit', '50'])).records.some(
    (r) => r.id === id,
  )
}

afterAll(async () => {
  await mallory?.stop()
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop('SIGKILL')))
})

describe('a malicious peer', () => {
  it('floods, replays, forks, lies about time and abuses sync; honest posts still arrive within 2 s', async () => {
    const home = { a: tempHome('honest-a'), b: tempHome('victim-b'), c: tempHome('honest-c') }
    await up(home.a)
    const a = await okJson<{ peerId: string; multiaddrs: string[] }>(home.a, ['id'])
    const b = await up(home.b, ['--join', a.multiaddrs[0]!])
    const bAddress = (await okJson<{ multiaddrs: string[] }>(home.b, ['id'])).multiaddrs[0]!
    await up(home.c, ['--join', bAddress])
    await ok(home.b, ['follow', a.peerId])
    await ok(home.c, ['follow', a.peerId])
    for (let n = 0; n < 20; n++) await ok(home.a, ['post', `old ${n}`])
    await eventually(
      async () =>
        Number(sql(home.c, `SELECT count(*) FROM records WHERE author = '${a.peerId}'`)) >= 20
          ? true
          : undefined,
      20_000,
      'the old posts on C',
    )
    const replays = sql(home.a, `SELECT hex(bytes) FROM records WHERE author = '${a.peerId}'`)
      .split('\n')
      .map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')))

    mallory = await Mallory.start()
    await mallory.connect(bAddress)
    // B follows Mallory, so B subscribes to her topic and asks her for records (badly answered).
    await ok(home.b, ['follow', mallory.address()])
    const pid = b.child.pid!
    const rssBefore = rssKiB(pid)
    const recordsBefore = Number(
      sql(home.b, `SELECT count(*) FROM records WHERE author != '${mallory.peerId}'`),
    )

    const now = Date.now()
    const forgedBase = mallory.sign(1, { seq: 1 })[0]!
    const attack = Promise.all([
      // Invalid records on A's topic: forged signatures, garbage, oversized.
      mallory.publish(
        authorTopic(a.peerId),
        Array.from({ length: FLOOD }, (_, n) =>
          n % 3 === 0
            ? relabel(forgedBase, { author: a.peerId, text: `forged ${n}` })
            : n % 3 === 1
              ? Uint8Array.from(Buffer.from(`garbage ${n}`))
              : new Uint8Array(MAX_RECORD_BYTES + 1 + (n % 100)).fill(n & 0xff),
        ),
      ),
      // A's own old records, replayed.
      mallory.publish(authorTopic(a.peerId), replays),
      // Mallory's own records: a day in the future, then two different records with one seq.
      mallory.publish(authorTopic(mallory.peerId), [
        ...mallory.sign(10, { seq: 1, ts: now + 24 * 3600_000, text: 'from the future' }),
        ...mallory.sign(1, { seq: 500, text: 'fork one' }),
        ...mallory.sign(1, { seq: 500, text: 'fork two' }),
      ]),
      // Sync requests for A's whole history with a limit of 2^50, over and over.
      mallory.hugeSyncRequests(bAddress, a.peerId, SYNC_ABUSE),
    ])

    // Meanwhile A posts; B (under attack) and C (behind B) must each have every post within 2 s.
    // Delivery is timed from the acknowledgement (the record is signed and stored on A); the
    // CLI's own time to post, slower on two cores under the flood, is reported apart.
    const delays: number[] = []
    const postMs: number[] = []
    for (let n = 0; n < HONEST_POSTS; n++) {
      const called = Date.now()
      const id = (await okJson<{ id: string }>(home.a, ['post', `honest ${n}`])).id
      const acked = Date.now()
      postMs.push(acked - called)
      await eventually(
        async () => ((await has(home.b, id)) && (await has(home.c, id)) ? true : undefined),
        2000,
        `honest ${n} on B and C`,
      )
      delays.push(Date.now() - acked)
    }
    const [flooded, replayed, own, sync] = await attack
    // One more honest post after the whole attack was sent.
    const last = (await okJson<{ id: string }>(home.a, ['post', 'after the attack'])).id
    await eventually(
      async () => ((await has(home.b, last)) && (await has(home.c, last)) ? true : undefined),
      2000,
      'the last post on B and C',
    )

    const status = await okJson<{ running: boolean; records: number; collisions: number }>(home.b, ['status'])
    expect(status.running).toBe(true)
    const malloryRows = Number(sql(home.b, `SELECT count(*) FROM records WHERE author = '${mallory.peerId}'`))
    // Nothing of anyone else's was added but the honest posts. Mallory's own valid records (her
    // fork pair, and the ones her endless answers carried) are hers to publish: kept, bounded by
    // the sync caps, and never one with a future timestamp.
    expect(Number(sql(home.b, `SELECT count(*) FROM records WHERE author != '${mallory.peerId}'`))).toBe(
      recordsBefore + HONEST_POSTS + 1,
    )
    // The replays added nothing: A's rows on B are A's posts, once each.
    expect(Number(sql(home.b, `SELECT count(*) FROM records WHERE author = '${a.peerId}'`))).toBe(
      20 + HONEST_POSTS + 1,
    )
    // Huge ranges were served capped, then refused as rate-limited.
    expect(sync.served).toBeGreaterThan(0)
    expect(sync.refused['rate-limited'] ?? 0).toBeGreaterThan(0)
    const rejections = b.lines.filter((line) => line.includes('rejected a gossiped record')).length
    const rssAfter = rssKiB(pid)
    console.info(
      [
        `hostile peer: flood ${FLOOD} invalid (${flooded} reached a peer), ${replays.length} replays (${replayed} reached),`,
        `${own} own records (future ts, fork); sync abuse ${SYNC_ABUSE}: served ${sync.served}, refused ${JSON.stringify(sync.refused)}, failed ${sync.failed};`,
        `bad answers given by Mallory ${JSON.stringify(mallory.answered)}; B logged ${rejections} rejections; mallory rows on B ${malloryRows}, collisions ${status.collisions};`,
        `honest delivery ms after ack ${JSON.stringify(delays)} (capsule post took ${JSON.stringify(postMs)}); B RSS ${Math.round(rssBefore / 1024)} MiB -> ${Math.round(rssAfter / 1024)} MiB`,
      ].join(' '),
    )
    expect(Math.max(...delays)).toBeLessThan(2000)
    // The bound: the attack costs B less than 96 MiB of resident memory in the CI form (measured
    // about 60 MiB: V8 growing its heap under the flood) and 160 MiB in the long form (measured
    // 109 MiB for 20,000 invalid records); see docs/SECURITY.md.
    expect(rssAfter - rssBefore).toBeLessThan((FULL ? 160 : 96) * 1024)
  })
})
