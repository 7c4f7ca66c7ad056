import { afterAll, describe, expect, it } from 'vitest'
import { Daemon, eventually, ok, okJson, tempHome } from './harness.js'
import { integrityCheck, postBurst, recordIds, sql } from './hostile-tools.js'

// SIGKILL a daemon in the middle of writing, restart it, and check that nothing it acknowledged
// is lost and that the file is sound. CAPSULE_HOSTILE_FULL=1 (scripts/hostile-full.sh) runs the
// long form.
const FULL = process.env.CAPSULE_HOSTILE_FULL === '1'
const BURST = FULL ? 5000 : 1000
const BACKFILL = FULL ? 8000 : 3000
const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--private-network']
const daemons: Daemon[] = []

async function up(home: string, args: string[] = []): Promise<Daemon> {
  const daemon = await Daemon.start(home, [...LISTEN, ...args])
  daemons.push(daemon)
  return daemon
}

afterAll(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop('SIGKILL')))
})

describe('SIGKILL', () => {
  it(`during a burst of ${BURST} concurrent posts loses no acknowledged post`, async () => {
    const home = tempHome('crash-burst')
    const daemon = await up(home)
    const peerId = (await okJson<{ peerId: string }>(home, ['id'])).peerId
    let killed = false
    let ackedAtKill = 0
    const burst = await postBurst(home, BURST, {
      label: 'crash',
      onAck: (acked) => {
        // Kill a third of the way in: hundreds acknowledged, hundreds in flight.
        if (!killed && acked.length >= BURST / 3) {
          killed = true
          ackedAtKill = acked.length
          daemon.child.kill('SIGKILL')
        }
      },
    })
    await daemon.stop('SIGKILL')
    expect(killed).toBe(true)
    expect(burst.failed).toBeGreaterThan(0) // the kill did cut the burst
    // Straight after the crash, before any restart: the file is sound and holds every ack.
    expect(integrityCheck(home)).toBe('ok')
    const stored = recordIds(home, peerId)
    const lost = burst.acked.filter((id) => !stored.has(id))
    expect(lost).toEqual([])
    expect(
      sql(home, 'SELECT count(*) FROM (SELECT seq FROM records GROUP BY author, seq HAVING count(*) > 1)'),
    ).toBe('0')
    console.info(
      `crash burst: ${BURST} sent, ${ackedAtKill} acked at the kill, ${burst.acked.length} acked in all, ${stored.size} stored, ${lost.length} lost`,
    )
    // The restarted node carries on: its next post continues the sequence, with no fork.
    await up(home)
    const status = await okJson<{ records: number }>(home, ['status'])
    expect(status.records).toBe(stored.size)
    const next = (await okJson<{ id: string }>(home, ['post', 'after the crash'])).id
    expect(Number(sql(home, `SELECT seq FROM records WHERE id = '${next}'`))).toBe(stored.size + 1)
  })

  it(`of a follower during a backfill of ${BACKFILL} records: after restart it completes`, async () => {
    const authorHome = tempHome('crash-author')
    const followerHome = tempHome('crash-follower')
    await up(authorHome)
    const author = await okJson<{ peerId: string; multiaddrs: string[] }>(authorHome, ['id'])
    const posted = await postBurst(authorHome, BACKFILL, { label: 'backfill', concurrency: 16 })
    expect(posted.failed).toBe(0)
    const follower = await up(followerHome, ['--join', author.multiaddrs[0]!])
    // `follow` returns once its first sync ran: watch the database meanwhile, not after.
    const following = ok(followerHome, ['follow', author.peerId]).catch((error: Error) => error)
    // Kill once some, not all, of the author's records have arrived.
    const atKill = await eventually(
      async () => {
        const count = Number(
          sql(followerHome, `SELECT count(*) FROM records WHERE author = '${author.peerId}'`),
        )
        return count > 0 ? count : undefined
      },
      30_000,
      'the backfill to start',
    )
    follower.child.kill('SIGKILL')
    await follower.stop('SIGKILL')
    await following // cut off by the kill, or done just before it
    expect(integrityCheck(followerHome)).toBe('ok')
    const kept = recordIds(followerHome, author.peerId)
    expect(kept.size).toBeGreaterThanOrEqual(atKill)
    expect(kept.size).toBeLessThan(BACKFILL) // the kill did land in the middle
    console.info(`crash backfill: killed the follower with ${kept.size} of ${BACKFILL} records stored`)
    const restarted = Date.now()
    const again = await up(followerHome)
    await eventually(
      async () => (recordIds(followerHome, author.peerId).size === BACKFILL ? true : undefined),
      60_000,
      'the backfill to complete after the restart',
    ).catch((error) => {
      throw new Error(
        `${error.message}; ${recordIds(followerHome, author.peerId).size} stored; log:\n${again.lines.slice(0, 60).join('\n')}`,
      )
    })
    const after = recordIds(followerHome, author.peerId)
    expect([...kept].every((id) => after.has(id))).toBe(true)
    expect(posted.acked.every((id) => after.has(id))).toBe(true)
    expect(integrityCheck(followerHome)).toBe('ok')
    console.info(`crash backfill: complete ${Date.now() - restarted} ms after the restart`)
  })
})
