// Propagation: one author, N-1 followers on 127.0.0.1, each node dialled to a few others (see
// topology() in lib.mts). The author posts 200 times at 20 per second, then 200 more; for every
// post and follower we take the time from the post to the record being in the follower's store.
// The figures are the second 200's, a running mesh; the first 200's, which every process runs with
// cold code, are `details.first_posts`.
//   node bench/propagation.mts --system capsule|bare --mode in-process|processes --n 10
// capsule, in-process: createMesh + a real Store (SQLite file; own posts synchronous=FULL, records
//   from peers NORMAL) per node (with --records sqlite), wired as
//   the app wires them; from just before signing to the follower's `record` event (after the store
//   transaction), on one performance.now() clock.
// capsule, processes: real `capsule up --private-network` daemons; the author posts through its
//   socket API; from the record's signed `ts` (the author's clock at signing) to its `receivedAt`
//   on the follower's `/v1/tail` stream (the follower's clock when its store transaction ran;
//   same machine, same clock; ms resolution), as the bare nodes time a message where it arrives.
// bare: bench/bare-node.mts, same topology and rate, 300-byte messages signed with Ed25519 and
//   verified in the topic validator; from just before signing to the `message` event. Gossipsub
//   tuned as the Capsule mesh tunes it (`bare`), or with its defaults (`bare-defaults`). As
//   processes, the nodes start as the daemons do: one after another, each dialling its peers and
//   announcing itself in the DHT, so that the graph and the gossip meshes form alike; in one
//   process each announces itself after its dials, as a Capsule node's provider records wait
//   for its first peers.
import { type ChildProcess, fork } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSigner, signRecord } from '@capsule/core'
import { createMesh, MemoryPeers, MemoryRecords, type Mesh } from '@capsule/mesh'
import { Store } from '@capsule/store'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  type BareNode,
  type FromChild,
  type GossipSettings,
  startBareNode,
  type ToChild,
} from './bare-node.mts'
import {
  countingLogger,
  cpuMs,
  Daemon,
  degrees,
  emit,
  LOOPBACK,
  log,
  newAuthor,
  options,
  percentile,
  poll,
  prepareHome,
  round,
  scratch,
  sleep,
  topology,
  writeCounters,
} from './lib.mts'

const args = options({
  // capsule, bare (gossipsub tuned as the Capsule mesh is) or bare-defaults (gossipsub's defaults)
  system: { type: 'string', default: 'capsule' },
  mode: { type: 'string', default: 'in-process' },
  n: { type: 'string', default: '10' },
  posts: { type: 'string', default: '200' },
  // Posts at the same rate before the measured ones, measured apart (`details.first_posts`): every
  // node starts cold, and V8 optimises a process's per-record code only once it has run some
  // hundreds of times, so these show a fresh start and the measured ones a running mesh.
  'first-posts': { type: 'string', default: '200' },
  rate: { type: 'string', default: '20' },
  settle: { type: 'string' },
  // in-process Capsule only: MemoryRecords (default), or a real SQLite Store per node written as
  // the app writes it (`store`)
  records: { type: 'string', default: 'memory' },
})
const N = Number(args.n)
const POSTS = Number(args.posts)
const RATE = Number(args.rate)
const FIRST_POSTS = Number(args['first-posts'])
// Seqs 1..WARMUP open the tails and graft the meshes; then the first posts, then the measured.
const WARMUP = 3
const FIRST: Window = { from: WARMUP + 1, to: WARMUP + FIRST_POSTS }
const MEASURED: Window = { from: FIRST.to + 1, to: FIRST.to + POSTS }
const SETTLE_MS = Number(args.settle ?? (args.quick ? 2000 : 5000))
const dials = topology(N)
const gossipSettings: GossipSettings = args.system === 'bare-defaults' ? 'defaults' : 'tuned'

/** A mesh under test: the author is node 0, followers are 1..N-1. */
interface System {
  /** The author publishes post number `seq` (1-based, warm-up posts included). */
  post(seq: number): void
  /** Resolves once the author has acknowledged every post so far (only the daemons lag). */
  posted?: () => Promise<void>
  /** The node processes (processes mode), to count the CPU they use while the posts flow. */
  pids?: () => number[]
  /** Set by the driver: follower `index` holds post `seq`, `ms` after it was posted. */
  delivered: (index: number, seq: number, ms: number) => void
  /** Posts the author never acknowledged (its API failed): left out of every figure. */
  failed: Set<number>
  details(): Record<string, unknown>
  /**
   * Processes mode: each delivery's stages, in ms, over the measured posts; read after `stop`
   * (the daemons write their traces as they exit).
   */
  stages?: () => Stages
  /**
   * The graph gossip runs on: the distinct peers each node is connected to, and the peers each
   * follower has in its gossip mesh for the author's topic (those it forwards a record to).
   */
  graph(): Promise<{ peers: number[]; meshPeers: number[] }>
  stop(): Promise<void>
}

/** Post numbers (seqs), both ends included. */
interface Window {
  from: number
  to: number
}
const within = ({ from, to }: Window, seq: number) => seq >= from && seq <= to

/** The text of post number `seq`, by which a daemon's records are matched to the posts sent. */
const postText = (seq: number) => `post ${seq}`
/** The post number in a record's text; NaN for a record that is not one of the posts. */
const postNumber = (text: string | undefined) => Number(/^post (\d+)$/.exec(text ?? '')?.[1])

/** Waits until `check` holds, polling (the nodes are busy with their own events). */
const settle = (check: () => boolean, what: string) => poll(() => (check() ? true : undefined), 30_000, what)

async function capsuleInProcess(): Promise<System> {
  const dir = scratch('propagation')
  const author = await newAuthor()
  const signer = createSigner(author.key)
  const logger = countingLogger()
  const nodes: { mesh: Mesh; store: Store; memory: MemoryRecords }[] = []
  const t0 = new Map<number, number>()
  let viaSync = 0
  const system: System = {
    delivered: () => {},
    failed: new Set(),
    post(seq) {
      t0.set(seq, performance.now())
      const { mesh, store, memory: memory0 } = nodes[0]!
      const record = signRecord({ kind: 'post', text: postText(seq) }, signer, { seq, ts: Date.now() })
      if (args.records === 'memory') memory0.ingest([record])
      else store.records.put([record]) // the author's own post, as the app stores it
      void mesh.publish(record)
    },
    details: () => ({ records: args.records, via_sync: viaSync, warnings: logger.counts.warn }),
    graph: async () => ({
      peers: nodes.map(({ mesh }) => mesh.connectedPeers().length),
      meshPeers: nodes.slice(1).map(({ mesh }) => mesh.meshPeers(author.id).length),
    }),
    async stop() {
      await Promise.all(nodes.map(({ mesh }) => mesh.stop()))
      for (const { store } of nodes) store.close()
    },
  }
  for (let i = 0; i < N; i++) {
    const store = Store.open(join(dir, `node-${i}.db`))
    const memory = new MemoryRecords()
    const mesh = createMesh(
      {
        privateKey: i === 0 ? author.key : await generateKeyPair('Ed25519'),
        ...LOOPBACK,
        follows: i === 0 ? [] : [author.id],
      },
      {
        // What apps/capsule/src/daemon/daemon.ts passes, minus the node's `record` event.
        records:
          args.records === 'memory'
            ? memory
            : {
                highestSeq: (who) => store.records.highestSeq(who),
                recordsAfter: (who, after, limit) => store.records.bytesAfter(who, after, limit),
                ingest: (records) => store.records.putReceived(records),
              },
        peers: new MemoryPeers(),
        logger,
      },
    )
    mesh.addEventListener('record', ({ detail }) => {
      if (detail.via === 'sync') viaSync += 1
      const seq = detail.record.body.seq
      system.delivered(i, seq, performance.now() - (t0.get(seq) ?? Number.NaN))
    })
    await mesh.start()
    nodes.push({ mesh, store, memory })
  }
  for (const [j, targets] of dials.entries())
    await Promise.all(targets.map((t) => nodes[j]!.mesh.dial(nodes[t]!.mesh.multiaddrs()[0]!)))
  await settle(
    () => nodes.every(({ mesh }) => mesh.meshPeers(author.id).length > 0),
    'every node in the gossip mesh',
  )
  return system
}

async function capsuleProcesses(): Promise<System> {
  const dir = scratch('propagation')
  const traces = join(dir, 'traces')
  mkdirSync(traces)
  const author = await newAuthor()
  const daemons: Daemon[] = []
  for (const [i, targets] of dials.entries()) {
    const { home } = await prepareHome(join(dir, `node-${i}`), {
      ...(i === 0 ? { key: author.key } : { follows: [author.id] }),
    })
    daemons.push(
      await Daemon.start(
        home,
        targets.map((t) => daemons[t]!.multiaddrs[0]!),
        traces,
      ),
    )
  }
  log(
    `${N} daemons ready (median start ${round(
      percentile(
        daemons.map((d) => d.startMs),
        50,
      ),
      0,
    )} ms)`,
  )
  const tails = new AbortController()
  // Until the tail carried `receivedAt`, a delivery was timed when this process read the line.
  const tailReadMs: number[] = []
  const acks: Promise<void>[] = []
  const ackMs: number[] = []
  const system: System = {
    delivered: () => {},
    failed: new Set(),
    post(seq) {
      const t0 = performance.now()
      acks.push(
        daemons[0]!.request('/v1/posts', { text: postText(seq) }).then(
          () => {
            ackMs.push(performance.now() - t0)
          },
          (error: Error) => {
            system.failed.add(seq)
            log(`post ${seq} failed: ${error.message}`)
          },
        ),
      )
    },
    posted: async () => {
      await Promise.all(acks)
    },
    pids: () => daemons.map((daemon) => daemon.pid),
    details: () => {
      // What the daemons warned about, by message (a lost record usually shows up here).
      const warnings: Record<string, number> = {}
      for (const daemon of daemons)
        for (const line of daemon.lines) {
          const match = / (warn|error) [^:]+: (.+?)(?= \w+=|$)/.exec(line)
          if (match) warnings[`${match[1]}: ${match[2]}`] = (warnings[`${match[1]}: ${match[2]}`] ?? 0) + 1
        }
      const startMs = round(
        percentile(
          daemons.map((d) => d.startMs),
          50,
        ),
        0,
      )
      return {
        start_ms_median: startMs,
        failed_posts: system.failed.size,
        // The author's API round trip for a post: above 50 ms it falls behind the rate.
        post_ack_p50_ms: round(percentile(ackMs, 50)),
        post_ack_max_ms: round(Math.max(...ackMs)),
        // Signing to this process reading the follower's tail line: the stored time plus the tail
        // hop and this process's own event loop (how deliveries were timed until 2026-11-27).
        tail_read_p50_ms: round(percentile(tailReadMs, 50)),
        tail_read_p99_ms: round(percentile(tailReadMs, 99)),
        warnings,
      }
    },
    stages: () => capsuleStages(traces, author.id, system.failed),
    graph: async () => ({
      peers: await Promise.all(daemons.map(async (daemon) => (await daemon.status()).peers)),
      meshPeers: await Promise.all(
        daemons.slice(1).map(async (daemon) => {
          const { follows } = await daemon.request<{ follows: { meshPeers: number }[] }>('/v1/follows')
          return follows[0]?.meshPeers ?? 0
        }),
      ),
    }),
    async stop() {
      tails.abort()
      await Promise.all(daemons.map((daemon) => daemon.stop()))
    },
  }
  for (const [i, daemon] of daemons.entries()) {
    if (i === 0) continue
    void (async () => {
      type Item = { receivedAt: number; record: { author: string; text?: string; ts: number } }
      for await (const { receivedAt, record } of daemon.client.stream<Item>('/v1/tail', {
        signal: tails.signal,
      })) {
        // By the text, not the seq: a post the API failed on may leave a gap in the author's seqs.
        const seq = postNumber(record.text)
        if (record.author !== author.id || !(seq > 0)) continue
        // Stored by the follower at `receivedAt` (its clock, which is ours), signed at `ts`.
        system.delivered(i, seq, receivedAt - record.ts)
        if (within(MEASURED, seq)) tailReadMs.push(Date.now() - record.ts)
      }
    })().catch(() => undefined)
  }
  // Every follower connected to all its neighbours, and the tail streams open.
  const degree = degrees(dials)
  for (const [i, daemon] of daemons.entries())
    await poll(
      async () => ((await daemon.status()).peers >= degree[i]! ? true : undefined),
      30_000,
      `node ${i} connected to its ${degree[i]} neighbours`,
    ).catch((error: Error) => log(`${error.message}; going on (gossip and sync may still reach it)`))
  await sleep(500)
  return system
}

function bareKeys() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }),
  }
}

async function bareInProcess(): Promise<System> {
  const keys = bareKeys()
  const nodes: BareNode[] = []
  for (let i = 0; i < N; i++)
    nodes.push(await startBareNode(keys.publicKey, i === 0 ? keys.privateKey : undefined))
  // Each node announces itself in the DHT once it has peers, as a Capsule mesh node's provider
  // records wait for a routing table that is not empty.
  const author = nodes[0]!.node.peerId.toString()
  for (const [j, targets] of dials.entries()) {
    await nodes[j]!.dial(targets.map((t) => nodes[t]!.address))
    nodes[j]!.announce(author)
  }
  await settle(() => nodes.every((node) => node.meshPeers() > 0), 'every node in the gossip mesh')
  const system: System = {
    delivered: () => {},
    failed: new Set(),
    post(seq) {
      nodes[0]!.publish(seq).catch((error: Error) => log(`publish ${seq} failed: ${error.message}`))
    },
    details: () => ({}),
    graph: async () => ({
      peers: nodes.map((node) => node.connectedPeers()),
      meshPeers: nodes.slice(1).map((node) => node.meshPeers()),
    }),
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()))
    },
  }
  for (const [i, node] of nodes.entries())
    if (i > 0) node.onMessage = (seq, ms) => system.delivered(i, seq, ms)
  return system
}

async function bareProcesses(): Promise<System> {
  const keys = bareKeys()
  const children: ChildProcess[] = []
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL')
  })
  const addresses: string[] = []
  let authorId: string | undefined
  const stages: Stages = { transport: [], check: [] }
  const system: System = {
    delivered: () => {},
    failed: new Set(),
    post(seq) {
      children[0]!.send({ op: 'publish', seq } satisfies ToChild)
    },
    stages: () => stages,
    pids: () => children.map((child) => child.pid!),
    details: () => ({}),
    graph: async () => {
      const counts = await meshCounts()
      return {
        peers: counts.map(({ connectedPeers }) => connectedPeers),
        meshPeers: counts.slice(1).map(({ meshPeers }) => meshPeers),
      }
    },
    async stop() {
      await Promise.all(
        children.map((child) => {
          const exited = once(child, 'exit')
          child.send({ op: 'stop' } satisfies ToChild)
          return exited
        }),
      )
    },
  }
  /** The child's next answer `op`; rejects when it reports an error, exits or takes over 60 s. */
  const reply = (child: ChildProcess, op: FromChild['op']) =>
    new Promise<FromChild>((resolve, reject) => {
      const done = (error?: Error, message?: FromChild) => {
        clearTimeout(timer)
        child.off('message', listener)
        child.off('exit', exited)
        if (error) reject(error)
        else resolve(message!)
      }
      const listener = (message: FromChild) => {
        if (message.op === 'error') done(new Error(`a bare node failed: ${message.message}`))
        else if (message.op === op) done(undefined, message)
      }
      const exited = (code: number | null) => done(new Error(`a bare node exited (${code}) before '${op}'`))
      const timer = setTimeout(() => done(new Error(`a bare node did not answer '${op}' in 60 s`)), 60_000)
      child.on('message', listener)
      child.on('exit', exited)
    })
  const meshCounts = () =>
    Promise.all(
      children.map((child) => {
        const answer = reply(child, 'mesh')
        child.send({ op: 'mesh' } satisfies ToChild)
        return answer as Promise<Extract<FromChild, { op: 'mesh' }>>
      }),
    )
  for (let i = 0; i < N; i++) {
    const child = fork(join(import.meta.dirname, 'bare-node.mts'), [], { stdio: 'inherit' })
    children.push(child)
    child.on('message', (message: FromChild) => {
      if (message.op === 'got') {
        system.delivered(i, message.seq, message.ms)
        if (within(MEASURED, message.seq)) {
          stages.transport!.push(message.stages.transport)
          stages.check!.push(message.stages.check)
        }
      } else if (message.op === 'error') log(`bare node ${i}: ${message.message}`)
    })
    const ready = reply(child, 'ready')
    child.send({
      op: 'start',
      publicKey: keys.publicKey.toString('base64'),
      ...(i === 0 ? { privateKey: keys.privateKey.toString('base64') } : {}),
      settings: gossipSettings,
    } satisfies ToChild)
    const { address, peerId } = (await ready) as Extract<FromChild, { op: 'ready' }>
    addresses.push(address)
    authorId ??= peerId
    // As the daemons start: one after another, each dialling its peers and announcing itself in
    // the DHT, so that the graph and the gossip meshes form as the Capsule mesh's do.
    const dialed = reply(child, 'dialed')
    child.send({
      op: 'dial',
      addresses: dials[i]!.map((t) => addresses[t]!),
      announceAuthor: authorId,
    } satisfies ToChild)
    await dialed
  }
  await poll(
    async () => ((await meshCounts()).every((counts) => counts.meshPeers > 0) ? true : undefined),
    30_000,
    'every node in the gossip mesh',
    200,
  )
  return system
}

/** What the node processes have used so far; two of these bound a window's cost. */
interface Usage {
  cpuMs: number
  writes: { calls: number; bytes: number }[]
}

async function measure(system: System) {
  const followers = N - 1
  const seen = new Set<string>()
  const latencies = { first: [] as number[], measured: [] as number[] }
  const perSeq = new Map<number, number>()
  let changed = () => {}
  system.delivered = (index, seq, ms) => {
    const key = `${index}:${seq}`
    if (seen.has(key) || system.failed.has(seq)) return
    seen.add(key)
    perSeq.set(seq, (perSeq.get(seq) ?? 0) + 1)
    if (within(FIRST, seq)) latencies.first.push(ms)
    else if (within(MEASURED, seq)) latencies.measured.push(ms)
    changed()
  }
  const until = (check: () => boolean, timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      changed = () => {
        if (!check()) return
        clearTimeout(timer)
        resolve(true)
      }
      changed()
    })
  // Warm-up: a few posts everyone must get before the clock starts (tails open, meshes grafted).
  for (let seq = 1; seq <= WARMUP; seq++) {
    system.post(seq)
    await sleep(200)
  }
  const warm = await until(() => perSeq.get(WARMUP) === followers, 20_000)
  if (!warm) log(`warm-up incomplete: ${perSeq.get(WARMUP) ?? 0}/${followers} followers got it`)
  // Let start-up work end first (DHT provider records, the first sync with each new peer).
  await sleep(SETTLE_MS)
  log(`posting ${FIRST_POSTS} then ${POSTS} measured at ${RATE}/s to ${followers} followers`)
  // In one process: this one (every node, and this loop's small bookkeeping).
  const pids = system.pids?.() ?? [process.pid]
  const usage = (): Usage => ({
    cpuMs: pids.reduce((sum, pid) => sum + cpuMs(pid), 0),
    writes: pids.map(writeCounters),
  })
  const atFirst = usage()
  let atMeasured = atFirst
  const start = performance.now()
  for (let seq = FIRST.from; seq <= MEASURED.to; seq++) {
    const due = start + ((seq - FIRST.from) * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    if (seq === MEASURED.from) atMeasured = usage()
    system.post(seq)
  }
  const expected = (window: Window) =>
    (window.to - window.from + 1 - [...system.failed].filter((seq) => within(window, seq)).length) * followers
  // Lost means not delivered 10 s after the author acknowledged the last post.
  await system.posted?.()
  await until(
    () => latencies.first.length >= expected(FIRST) && latencies.measured.length >= expected(MEASURED),
    10_000,
  )
  const atEnd = usage()
  return {
    ...figures(latencies.measured, expected(MEASURED), atMeasured, atEnd),
    // The first posts' deliveries still on their way as the measured ones start count in their
    // window, their CPU in the next: a few ms of each window's seconds.
    first: figures(latencies.first, expected(FIRST), atFirst, atMeasured),
    // Where deliveries were missing: followers (by index) and how many posts each lacked.
    missing: missingByFollower(seen, followers, system.failed),
  }
}

function spread(values: number[]) {
  const sorted = values.toSorted((a, b) => a - b)
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length
  return { min: sorted[0], median: percentile(sorted, 50), mean: round(mean, 2), max: sorted.at(-1) }
}

/** A window's latency figures and what carrying its posts cost. */
function figures(latencies: number[], expected: number, before: Usage, after: Usage) {
  const written = (key: 'calls' | 'bytes') =>
    after.writes.reduce((sum, counters, i) => sum + counters[key] - before.writes[i]![key], 0) /
    latencies.length
  return {
    // CPU all node processes used in the window, per record delivered to a follower: what
    // carrying one record one hop costs, all nodes together.
    cpuMsPerDelivery: round((after.cpuMs - before.cpuMs) / latencies.length, 2),
    // Their writes in the same time, per delivery: gossip on the sockets, and a Capsule node's
    // store (each stored record is a WAL frame per page it changes, each frame its own writes).
    writesPerDelivery: round(written('calls'), 1),
    bytesWrittenPerDelivery: Math.round(written('bytes')),
    p50_ms: round(percentile(latencies, 50)),
    p95_ms: round(percentile(latencies, 95)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(Math.max(...latencies)),
    delivered_ratio: round(latencies.length / expected, 4),
  }
}

function missingByFollower(
  seen: Set<string>,
  followers: number,
  failed: Set<number>,
): Record<string, number> {
  const missing: Record<string, number> = {}
  for (let index = 1; index <= followers; index++)
    for (let seq = FIRST.from; seq <= MEASURED.to; seq++)
      if (!failed.has(seq) && !seen.has(`${index}:${seq}`)) missing[index] = (missing[index] ?? 0) + 1
  return missing
}

/** A delivery's stages by name, each the ms of every measured delivery. */
type Stages = Record<string, number[]>

function stageFigures(stages: Stages) {
  return Object.fromEntries(
    Object.entries(stages).map(([name, ms]) => [
      name,
      { p50: round(percentile(ms, 50), 2), p99: round(percentile(ms, 99), 2), count: ms.length },
    ]),
  )
}

/**
 * The stages of each gossiped delivery of the measured posts, from the daemons' traces
 * (bench/stage-trace.mjs, on one clock): the author's numbering, signing and commit (`commit`,
 * once a post), from its commit to a follower's validator (`transport`), the validator's decoding
 * and checks (`check`), and from there to the follower's store (`store`: gossipsub's bookkeeping,
 * then the transaction; gossipsub's forward to the mesh comes after it).
 */
function capsuleStages(dir: string, author: string, failed: Set<number>): Stages {
  type Line = { event: string; author: string; seq: number; at: number } & Record<string, unknown>
  const stages: Stages = { commit: [], transport: [], check: [], store: [] }
  const committed = new Map<number, number>()
  const followers: Map<string, Line>[] = []
  for (const file of readdirSync(dir)) {
    const events = new Map<string, Line>()
    for (const text of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (text === '') continue
      const line = JSON.parse(text) as Line
      if (line.author !== author) continue
      if (line.event === 'committed') {
        const post = postNumber(line.text as string | undefined)
        if (within(MEASURED, post) && !failed.has(post)) {
          committed.set(line.seq, line.at)
          stages.commit!.push(line.at - (line.signingAt as number))
        }
      } else if (line.event === 'accepted' || (line.event === 'stored' && line.via === 'gossip')) {
        const key = `${line.event}:${line.seq}`
        if (!events.has(key)) events.set(key, line)
      }
    }
    followers.push(events)
  }
  for (const events of followers)
    for (const [seq, committedAt] of committed) {
      const accepted = events.get(`accepted:${seq}`)
      const stored = events.get(`stored:${seq}`)
      if (accepted === undefined || stored === undefined) continue
      const receivedAt = accepted.receivedAt as number
      stages.transport!.push(receivedAt - committedAt)
      stages.check!.push(accepted.at - receivedAt)
      stages.store!.push(stored.at - accepted.at)
    }
  if (stages.transport!.length === 0)
    throw new Error(`the daemons traced no delivery in ${dir}: did they load bench/stage-trace.mjs?`)
  return stages
}

const build = {
  capsule: { 'in-process': capsuleInProcess, processes: capsuleProcesses },
  bare: { 'in-process': bareInProcess, processes: bareProcesses },
  'bare-defaults': { 'in-process': bareInProcess, processes: bareProcesses },
}[args.system as 'capsule' | 'bare' | 'bare-defaults']?.[args.mode as 'in-process' | 'processes']
if (build === undefined) throw new Error(`unknown --system ${args.system} or --mode ${args.mode}`)
log(`propagation: ${args.system}, ${args.mode}, N = ${N}, degrees ${degrees(dials).join(' ')}`)
const system = await build()
const { missing, first, cpuMsPerDelivery, writesPerDelivery, bytesWrittenPerDelivery, ...measured } =
  await measure(system)
const graph = await system.graph()
const meshPeers = spread(graph.meshPeers)
const details: Record<string, unknown> = {
  ...system.details(),
  // After the posts: the graph the posts travelled on (the topology dialled, plus what the nodes
  // dialled themselves), and the followers' gossip meshes on it: a follower forwards each record
  // to its mesh peers but the one it came from, so their number sets the copies a post costs.
  peers_per_node: spread(graph.peers),
  mesh_peers_per_follower: meshPeers,
  cpu_ms_per_delivery: cpuMsPerDelivery,
  writes_per_delivery: writesPerDelivery,
  bytes_written_per_delivery: bytesWrittenPerDelivery,
  first_posts: {
    posts: FIRST_POSTS,
    p50_ms: first.p50_ms,
    p95_ms: first.p95_ms,
    p99_ms: first.p99_ms,
    max_ms: first.max_ms,
    delivered_ratio: first.delivered_ratio,
    cpu_ms_per_delivery: first.cpuMsPerDelivery,
    writes_per_delivery: first.writesPerDelivery,
  },
  ...(Object.keys(missing).length > 0 ? { missing } : {}),
}
await system.stop()
const stages = system.stages?.()
if (stages !== undefined) {
  const stageMs = stageFigures(stages)
  details.stages_ms = stageMs
  log(
    `stages, p50/p99 ms: ${Object.entries(stageMs)
      .map(([name, { p50, p99 }]) => `${name} ${p50}/${p99}`)
      .join(', ')}`,
  )
}
log(
  `${args.system} ${args.mode} N=${N}: p50 ${measured.p50_ms} p99 ${measured.p99_ms} ms, delivered ${measured.delivered_ratio}` +
    ` (first ${FIRST_POSTS} posts: p50 ${first.p50_ms} p99 ${first.p99_ms} ms, delivered ${first.delivered_ratio});` +
    ` ${cpuMsPerDelivery} ms of CPU a delivery, ${meshPeers.mean} mesh peers a follower`,
)
emit({ n: N, mode: args.mode, system: args.system, ...measured, details })
process.exit(0)
