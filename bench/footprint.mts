// Footprint of `capsule up` (the workspace's bin started as `npx capsule up` starts it):
// - start-up: spawn to the "ready" log line (mesh listening, socket API up), fresh home each time
//   (so it includes creating the identity), median of 10;
// - resident memory (VmRSS) after idling, with no peers, with 20 connected peers (Capsule meshes
//   in this process, each following the daemon), and after the daemon ingested 100,000 records
//   (10 authors, pulled over the sync protocol from a neighbour without serving limits).
// Baseline in the same run: a bare libp2p node with the same services (bench/bare-node.mts) in its
// own process, idle, measured the same way; also with 20 bare peers (a detail).
//   node bench/footprint.mts [--quick]
import { type ChildProcess, fork } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import { createMesh, MemoryPeers, MemoryRecords, type Mesh } from '@capsule/mesh'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type BareNode, type FromChild, startBareNode, type ToChild } from './bare-node.mts'
import {
  countingLogger,
  Daemon,
  emit,
  LOOPBACK,
  log,
  median,
  options,
  poll,
  prepareHome,
  round,
  rssMB,
  scratch,
  sleep,
  startSource,
} from './lib.mts'

const args = options({})
const STARTS = 10
const IDLE_MS = args.quick ? 3000 : 5000
const PEERS = 20
const AUTHORS = 10
const PER_AUTHOR = 10_000
const dir = scratch('footprint')
let homes = 0
const freshHome = () => join(dir, `home-${homes++}`)

async function startTimes() {
  const times: number[] = []
  for (let i = 0; i < STARTS; i++) {
    const daemon = await Daemon.start(freshHome())
    times.push(daemon.startMs)
    await daemon.stop()
  }
  log(`start to ready: ${times.map((ms) => Math.round(ms)).join(' ')} ms`)
  return median(times)
}

/** A bare baseline node in its own process; resolves once it listens. */
async function startBareProcess(): Promise<{ child: ChildProcess; address: string; startMs: number }> {
  const { publicKey } = generateKeyPairSync('ed25519')
  const t0 = performance.now()
  const child = fork(join(import.meta.dirname, 'bare-node.mts'), [], { stdio: 'inherit' })
  process.on('exit', () => child.kill('SIGKILL'))
  child.send({
    op: 'start',
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  } satisfies ToChild)
  const [ready] = (await once(child, 'message')) as [FromChild & { op: 'ready' }]
  return { child, address: ready.address, startMs: performance.now() - t0 }
}

async function stopBareProcess(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit')
  child.send({ op: 'stop' } satisfies ToChild)
  await exited
}

async function withPeers(daemon: Daemon): Promise<{ rss: number; peers: number; redials: number }> {
  const peers: Mesh[] = []
  for (let i = 0; i < PEERS; i++) {
    const mesh = createMesh(
      { privateKey: await generateKeyPair('Ed25519'), ...LOOPBACK, follows: [daemon.peerId] },
      { records: new MemoryRecords(), peers: new MemoryPeers(), logger: countingLogger() },
    )
    await mesh.start()
    await mesh.dial(daemon.multiaddrs[0]!)
    peers.push(mesh)
  }
  // A connection may drop under load (seen once with the machine busy): redial, and count it.
  let redials = 0
  let connected = 0
  await poll(
    async () => {
      connected = (await daemon.status()).peers
      if (connected >= PEERS) return true
      for (const mesh of peers)
        if (!mesh.connectedPeers().some((peer) => peer.peerId === daemon.peerId)) {
          redials += 1
          await mesh.dial(daemon.multiaddrs[0]!).catch(() => undefined)
        }
      return undefined
    },
    30_000,
    '20 peers',
    1000,
  ).catch((error: Error) => log(`${error.message}: ${connected} connected`))
  await sleep(IDLE_MS)
  const rss = daemon.rssMB()
  await Promise.all(peers.map((mesh) => mesh.stop()))
  return { rss, peers: connected, redials }
}

async function bareWithPeers(address: string, pid: number): Promise<number> {
  const { publicKey } = generateKeyPairSync('ed25519')
  const peers: BareNode[] = []
  for (let i = 0; i < PEERS; i++) {
    const peer = await startBareNode(publicKey.export({ format: 'der', type: 'spki' }))
    await peer.dial([address])
    peers.push(peer)
  }
  await sleep(IDLE_MS)
  const rss = rssMB(pid)
  await Promise.all(peers.map((peer) => peer.stop()))
  return rss
}

async function after100k(): Promise<{ rss: number; seconds: number; records: number }> {
  const source = await startSource('unlimited', AUTHORS, PER_AUTHOR)
  const neighbour = source.sources[0]!
  const daemon = await Daemon.start((await prepareHome(freshHome(), { follows: neighbour.authors })).home)
  const t0 = performance.now()
  // Following the neighbour dials it; on connect the daemon syncs all 10 authors it follows.
  await daemon.request('/v1/follows', { target: neighbour.address })
  let records = 0
  await poll(
    async () => {
      records = (await daemon.status()).records
      return records >= AUTHORS * PER_AUTHOR ? true : undefined
    },
    180_000,
    '100,000 records',
    100,
  ).catch((error: Error) => log(error.message))
  const seconds = (performance.now() - t0) / 1000
  await source.stop()
  await sleep(IDLE_MS)
  const rss = daemon.rssMB()
  log(`ingested ${records} records in ${seconds.toFixed(1)} s; RSS ${rss.toFixed(1)} MB`)
  await daemon.stop()
  return { rss, seconds, records }
}

log('footprint: start-up, idle memory, 20 peers, 100,000 records')
const startMs = await startTimes()

const bare = await startBareProcess()
await sleep(IDLE_MS)
const bareIdle = rssMB(bare.child.pid!)
const bare20 = await bareWithPeers(bare.address, bare.child.pid!)
await stopBareProcess(bare.child)

const daemon = await Daemon.start(freshHome())
await sleep(IDLE_MS)
const idle = daemon.rssMB()
const with20 = await withPeers(daemon)
const peers20 = with20.rss
await daemon.stop()
log(
  `idle RSS: capsule ${idle.toFixed(1)} MB, bare ${bareIdle.toFixed(1)} MB; with 20 peers ${peers20.toFixed(1)} / ${bare20.toFixed(1)} MB`,
)

const big = await after100k()
emit({
  start_ms: Math.round(startMs),
  rss_idle_mb: round(idle),
  rss_20_peers_mb: round(peers20),
  rss_100k_records_mb: round(big.rss),
  baseline_rss_idle_mb: round(bareIdle),
  details: {
    baseline_start_ms: Math.round(bare.startMs),
    baseline_rss_20_peers_mb: round(bare20),
    peers_connected: with20.peers,
    peer_redials: with20.redials,
    records_ingested: big.records,
    ingest_100k_seconds: round(big.seconds, 1),
    idle_ms: IDLE_MS,
  },
})
process.exit(0)
