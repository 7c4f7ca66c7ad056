// Catch-up: a new follower (a fresh `capsule up` process) follows an author whose daemon holds
// 10,000 records, and backfills them from that one peer over the sync protocol. Timed from the
// `POST /v1/follows` (what `capsule follow <multiaddr>` sends) to the follower's store holding all
// 10,000 (its /v1/status polled every 20 ms); then the follower's RSS 1 s and 12 s later.
// Also measured, as a detail: the same follower fed by a neighbour without serving limits
// (bench/sync-source.mts --kind unlimited), which shows what the follower itself can take.
//   node bench/catchup.mts [--quick]
import { join } from 'node:path'
import {
  Daemon,
  emit,
  fixture,
  log,
  options,
  poll,
  prepareHome,
  round,
  scratch,
  sleep,
  startSource,
} from './lib.mts'

const args = options({ records: { type: 'string', default: '10000' } })
const RECORDS = Number(args.records)
const WAIT_MS = args.quick ? 20_000 : 75_000
const dir = scratch('catchup')

/** Polls the follower until it holds `RECORDS` records or the wait is over. */
async function waitForRecords(follower: Daemon, t0: number) {
  let records = 0
  let firstSeconds: number | undefined
  const complete = await poll(
    async () => {
      records = (await follower.status()).records
      if (records > 0) firstSeconds ??= (performance.now() - t0) / 1000
      return records >= RECORDS ? true : undefined
    },
    WAIT_MS,
    'catch-up',
    20,
  ).catch(() => false)
  const seconds = (performance.now() - t0) / 1000
  return { complete, records, seconds, firstSeconds }
}

async function fromAuthor() {
  const data = await fixture(1, RECORDS)
  const author = await prepareHome(join(dir, 'author'), { key: data.authors[0]!.key, db: data.dbPath })
  const authorDaemon = await Daemon.start(author.home)
  const { home } = await prepareHome(join(dir, 'follower'))
  const follower = await Daemon.start(home)
  const t0 = performance.now()
  // Polled while the follow runs, so the first records' arrival shows.
  const waited = waitForRecords(follower, t0)
  const answer = await follower.request<{ stored: number }>('/v1/follows', {
    target: authorDaemon.multiaddrs[0],
  })
  const followMs = performance.now() - t0
  const result = await waited
  await sleep(1000)
  const rss = follower.rssMB()
  // Once V8 has run its memory reducer (8 s after the last full collection) and the node idles.
  await sleep(11_000)
  const settledRss = follower.rssMB()
  log(
    `from the author: ${result.records}/${RECORDS} in ${result.seconds.toFixed(2)} s ` +
      `(the follow answered after ${Math.round(followMs)} ms with ${answer.stored} stored)`,
  )
  const deferred = follower.lines.filter((line) => line.includes('sync deferred')).length
  await Promise.all([follower.stop(), authorDaemon.stop()])
  return { ...result, rss, settledRss, followMs, storedByFollow: answer.stored, deferred }
}

async function fromUnlimitedNeighbour() {
  const source = await startSource('unlimited', 1, RECORDS)
  const author = source.sources[0]!.authors[0]!
  const { home } = await prepareHome(join(dir, 'follower-unlimited'), { follows: [author] })
  const follower = await Daemon.start(home)
  const t0 = performance.now()
  // Following the neighbour itself dials it; on connect the follower syncs everyone it follows.
  await follower.request('/v1/follows', { target: source.sources[0]!.address })
  const result = await waitForRecords(follower, t0)
  await sleep(1000)
  const rss = follower.rssMB()
  log(
    `from an unlimited neighbour: ${result.records}/${RECORDS} in ` +
      `${result.seconds.toFixed(2)} s, RSS ${rss.toFixed(1)} MB`,
  )
  await follower.stop()
  await source.stop()
  return { ...result, rss }
}

log(`catch-up: ${RECORDS} records from one peer`)
const main = await fromAuthor()
const unlimited = await fromUnlimitedNeighbour()
emit({
  records: main.records,
  seconds: main.complete ? round(main.seconds, 2) : null,
  follower_rss_mb: round(main.rss),
  details: {
    complete: main.complete,
    waited_s: round(main.seconds, 1),
    follower_rss_12s_after_mb: round(main.settledRss),
    follow_answer_ms: Math.round(main.followMs),
    // When the follower's status first counted a record (polled every 20 ms): the dial and the
    // first page, before the rest streams in.
    first_records_after_s: round(main.firstSeconds ?? Number.NaN, 2),
    stored_by_follow: main.storedByFollow,
    sync_deferred_log_lines: main.deferred,
    unlimited_source_seconds: unlimited.complete ? round(unlimited.seconds, 2) : null,
    unlimited_source_records: unlimited.records,
    unlimited_source_rss_mb: round(unlimited.rss),
  },
})
process.exit(0)
