// A process that holds records and serves them over the sync protocol, for the ingest and
// footprint benchmarks. Started with fork(); answers { op: 'ready', sources } on the IPC channel
// and stops on { op: 'stop' }.
//   --kind capsule:   one real Capsule mesh (createMesh) per author, each serving only its own
//                     author's records from the shared Store, with the mesh's own serving limits.
//   --kind unlimited: one bare libp2p node (TCP, Noise, Yamux, identify) answering the sync protocol
//                     with the mesh's own serveSync, for every author, without serving limits: a
//                     neighbour that can feed a node as fast as the node can take records.
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { createMesh, MemoryPeers, type MeshRecords, SYNC_PROTOCOL } from '@capsule/mesh'
import { Store } from '@capsule/store'
import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
// Not exported by @capsule/mesh: the serving half of the protocol, used here without its limits.
import { serveSync } from '../packages/mesh/dist/sync-protocol.js'
import { TokenBucket } from '../packages/mesh/dist/token-bucket.js'
import { loopbackTransport } from './bare-node.mts'
import { countingLogger, fixture, LOOPBACK, options, scratch } from './lib.mts'

export interface Source {
  address: string
  authors: string[]
}
export type SourceMessage = { op: 'ready'; sources: Source[]; fixture: string }

const args = options({
  kind: { type: 'string', default: 'capsule' },
  authors: { type: 'string', default: '5' },
  records: { type: 'string', default: '2000' },
})

const data = await fixture(Number(args.authors), Number(args.records))
const dbPath = join(scratch('source'), 'records.db')
copyFileSync(data.dbPath, dbPath)
const store = Store.open(dbPath)
const stops: (() => Promise<void>)[] = []
const sources: Source[] = []

/** The store seen as one author's node: it holds (and admits to holding) only that author. */
function only(author: string): MeshRecords {
  return {
    highestSeq: (who) => (who === author ? store.records.highestSeq(who) : 0),
    recordsAfter: (who, after, limit) => (who === author ? store.records.bytesAfter(who, after, limit) : []),
    ingest: () => [],
  }
}

if (args.kind === 'capsule') {
  for (const author of data.authors) {
    const mesh = createMesh(
      { privateKey: author.key, ...LOOPBACK },
      { records: only(author.id), peers: new MemoryPeers(), logger: countingLogger() },
    )
    await mesh.start()
    stops.push(() => mesh.stop())
    sources.push({ address: mesh.multiaddrs()[0]!, authors: [author.id] })
  }
} else {
  const node = await createLibp2p({ ...loopbackTransport(), services: { identify: identify() } })
  const records: MeshRecords = {
    highestSeq: (who) => store.records.highestSeq(who),
    recordsAfter: (who, after, limit) => store.records.bytesAfter(who, after, limit),
    ingest: () => [],
  }
  const unlimited = () => new TokenBucket(1e12, 1e12)
  await node.handle(SYNC_PROTOCOL, (stream) => {
    serveSync(stream, { records, allowance: { requests: unlimited(), records: unlimited() } }).catch(
      () => undefined,
    )
  })
  stops.push(async () => {
    await node.stop()
  })
  sources.push({ address: node.getMultiaddrs()[0]!.toString(), authors: data.authors.map((a) => a.id) })
}

process.send?.({ op: 'ready', sources, fixture: data.dbPath } satisfies SourceMessage)
process.on('message', async (message: { op: string }) => {
  if (message.op !== 'stop') return
  for (const stop of stops) await stop()
  store.close()
  process.exit(0)
})
process.on('disconnect', () => process.exit(0))
