// Ingest through the sync path: one follower (createMesh + a real Store, wired as the app wires
// them) pulls K authors' 2,000 records each over the sync protocol (each record parsed on the
// main thread, its signature checked in the app's worker pool, stored in one SQLite transaction
// per page), from another process on the same two cores:
// - the figure: one neighbour that serves every author with the mesh's own serveSync and no
//   serving limits (sync-source.mts --kind unlimited), the least CPU a source can take, so that
//   the figure is the follower's rate as far as two shared cores allow;
// - a detail: K Capsule nodes (createMesh each, one process, one thread serving them all), each
//   the author of its 2,000 records (within its serving allowance); that process bounds it.
// Baselines in the same run, on this process's one core: Ed25519 verify-only (node:crypto, and as
// a detail libsodium, which the node verifies with) and insert-only (better-sqlite3, WAL,
// synchronous=NORMAL as the store writes records from peers, 256 rows per transaction).
// Details: decodeRecord on one core, and on all cores in worker threads (the proposed fix's ceiling).
//   node bench/ingest.mts [--quick] [--authors K] [--sync-only --source unlimited|capsule]
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { createSignaturePool, decodeRecord, ed25519Verify } from '@capsule/core'
import { createMesh, MemoryPeers } from '@capsule/mesh'
import { Store } from '@capsule/store'
import { generateKeyPair } from '@libp2p/crypto/keys'
import Database from 'better-sqlite3'
import { countingLogger, emit, LOOPBACK, log, options, round, scratch, startSource } from './lib.mts'

// --sync-only: only the pull from --source, no baselines (for a CPU profile of the follower alone).
const args = options({
  authors: { type: 'string' },
  'sync-only': { type: 'boolean', default: false },
  source: { type: 'string', default: 'unlimited' },
})
const AUTHORS = Number(args.authors ?? (args.quick ? 5 : 10))
const PER_AUTHOR = 2000
const TOTAL = AUTHORS * PER_AUTHOR
const PAGE = 256
const dir = scratch('ingest')

async function throughSync(kind: 'capsule' | 'unlimited') {
  const source = await startSource(kind, AUTHORS, PER_AUTHOR)
  const store = Store.open(join(dir, `follower-${kind}.db`))
  const logger = countingLogger()
  const signatures = createSignaturePool()
  const mesh = createMesh(
    {
      privateKey: await generateKeyPair('Ed25519'),
      ...LOOPBACK,
      follows: source.sources.flatMap((s) => s.authors),
    },
    {
      records: {
        highestSeq: (who) => store.records.highestSeq(who),
        recordsAfter: (who, after, limit) => store.records.bytesAfter(who, after, limit),
        // As the app stores records from peers: without an fsync per page (putReceived).
        ingest: (records) => store.records.putReceived(records),
      },
      peers: new MemoryPeers(),
      logger,
      verifySignatures: (checks) => signatures.verify(checks),
    },
  )
  await mesh.start()
  let stored = 0
  let firstAt = 0
  let lastAt = 0
  const done = Promise.withResolvers<void>()
  mesh.addEventListener('record', () => {
    stored += 1
    lastAt = performance.now()
    if (stored === 1) firstAt = lastAt
    if (stored === TOTAL) done.resolve()
  })
  const timeout = setTimeout(() => done.resolve(), 60_000)
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(source.sources.map((s) => mesh.dial(s.address)))
  await done.promise
  clearTimeout(timeout)
  const used = process.cpuUsage(cpu)
  await mesh.stop()
  await signatures.close()
  store.close()
  await source.stop()
  const seconds = (lastAt - t0) / 1000
  const cpuMsPerRecord = (used.user + used.system) / 1000 / stored
  log(
    `follower stored ${stored}/${TOTAL} from ${source.sources.length} peer(s) (${kind}) in ${seconds.toFixed(2)} s, ` +
      `${cpuMsPerRecord.toFixed(3)} ms of CPU a record`,
  )
  return {
    stored,
    recordsPerSecond: stored / seconds,
    steadyPerSecond: stored / ((lastAt - firstAt) / 1000),
    cpuMsPerRecord,
    warnings: [...logger.counts.messages.keys()],
    fixture: source.fixture,
  }
}

/** Per second over `count` calls of `work`, after a short warm-up. */
function rate(count: number, work: (i: number) => void): number {
  for (let i = 0; i < Math.min(500, count); i++) work(i)
  const t0 = performance.now()
  for (let i = 0; i < count; i++) work(i)
  return count / ((performance.now() - t0) / 1000)
}

/** Ed25519 verifies a second on one core: node:crypto's (the baseline), and libsodium's (the node's). */
function verifyOnly(): { nodeCrypto: number; libsodium: number } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  const messages = Array.from({ length: 2000 }, (_, i) => Buffer.alloc(300, i % 251))
  const signatures = messages.map((message) => sign(null, message, privateKey))
  const check = (valid: boolean) => {
    if (!valid) throw new Error('bad signature')
  }
  return {
    nodeCrypto: rate(TOTAL, (i) =>
      check(verify(null, messages[i % 2000]!, publicKey, signatures[i % 2000]!)),
    ),
    libsodium: rate(TOTAL, (i) => check(ed25519Verify(raw, messages[i % 2000]!, signatures[i % 2000]!))),
  }
}

function readRecords(fixturePath: string) {
  const store = Store.open(fixturePath, { readonly: true })
  const rows: { id: string; author: string; seq: number; bytes: Uint8Array }[] = []
  for (const { id: author } of new Database(fixturePath, { readonly: true })
    .prepare('SELECT DISTINCT author AS id FROM records')
    .all() as { id: string }[])
    for (const bytes of store.records.bytesAfter(author, 0, PER_AUTHOR)) {
      const record = decodeRecord(bytes, { now: Number.POSITIVE_INFINITY })
      rows.push({ id: record.id, author, seq: record.body.seq, bytes })
    }
  store.close()
  return rows.slice(0, TOTAL)
}

function insertOnly(rows: ReturnType<typeof readRecords>): number {
  const db = new Database(join(dir, 'insert-only.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE records (id TEXT PRIMARY KEY, author TEXT NOT NULL, seq INTEGER NOT NULL, bytes BLOB);
           CREATE INDEX records_author_seq ON records (author, seq)`)
  const insert = db.prepare('INSERT INTO records (id, author, seq, bytes) VALUES (?, ?, ?, ?)')
  const batch = db.transaction((page: typeof rows) => {
    for (const row of page) insert.run(row.id, row.author, row.seq, row.bytes)
  })
  const t0 = performance.now()
  for (let i = 0; i < rows.length; i += PAGE) batch(rows.slice(i, i + PAGE))
  const perSecond = rows.length / ((performance.now() - t0) / 1000)
  db.close()
  return perSecond
}

/**
 * decodeRecord over all records split across `threads` worker threads (one per core): the
 * ceiling of the proposed fix, verification off the main thread. Includes copying the bytes over.
 */
async function parallelDecode(records: Uint8Array[], threads: number): Promise<number> {
  const workers = Array.from(
    { length: threads },
    () => new Worker(join(import.meta.dirname, 'verify-worker.mts')),
  )
  const round = (parts: Uint8Array[][]) =>
    Promise.all(
      workers.map((worker, i) => {
        const answered = once(worker, 'message')
        worker.postMessage(parts[i])
        return answered
      }),
    )
  await round(workers.map(() => records.slice(0, 500)))
  const share = Math.ceil(records.length / threads)
  const t0 = performance.now()
  await round(workers.map((_, i) => records.slice(i * share, (i + 1) * share)))
  const perSecond = records.length / ((performance.now() - t0) / 1000)
  await Promise.all(workers.map((worker) => worker.terminate()))
  return perSecond
}

log(`ingest: ${TOTAL} records of ${AUTHORS} authors`)
if (args['sync-only']) {
  await throughSync(args.source as 'capsule' | 'unlimited')
  process.exit(0)
}
const sync = await throughSync('unlimited')
const fromCapsulePeers = await throughSync('capsule')
const rows = readRecords(sync.fixture)
const verifyPerSecond = verifyOnly()
const insertPerSecond = insertOnly(rows)
const decodePerSecond = rate(rows.length, (i) => decodeRecord(rows[i]!.bytes))
const parallelPerSecond = await parallelDecode(
  rows.map((row) => row.bytes),
  cpus().length,
)
emit({
  records_per_s: Math.round(sync.recordsPerSecond),
  verify_only_per_s: Math.round(verifyPerSecond.nodeCrypto),
  insert_only_per_s: Math.round(insertPerSecond),
  details: {
    records: TOTAL,
    stored: sync.stored,
    verify_only_libsodium_per_s: Math.round(verifyPerSecond.libsodium),
    steady_records_per_s: Math.round(sync.steadyPerSecond),
    follower_cpu_ms_per_record: round(sync.cpuMsPerRecord, 3),
    decode_record_per_s: Math.round(decodePerSecond),
    decode_record_all_cores_per_s: Math.round(parallelPerSecond),
    warnings: sync.warnings,
    from_capsule_peers: {
      peers: AUTHORS,
      records_per_s: Math.round(fromCapsulePeers.recordsPerSecond),
      steady_records_per_s: Math.round(fromCapsulePeers.steadyPerSecond),
      follower_cpu_ms_per_record: round(fromCapsulePeers.cpuMsPerRecord, 3),
      warnings: fromCapsulePeers.warnings,
    },
  },
})
process.exit(0)
