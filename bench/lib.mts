// Shared by the benchmarks: arguments, statistics, scratch folders, loopback mesh settings, and
// real `capsule up` daemons driven over their socket. Each benchmark is its own script that ends by
// printing one line `RESULT <json>` on stdout (progress goes to stderr); bench/run.mts collects them.
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createSigner, signRecord, type VerifiedRecord } from '@capsule/core'
import { SocketClient } from '@capsule/socket-api'
import { Store } from '@capsule/store'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

export const root = resolve(import.meta.dirname, '..')
export const capsuleBin = join(root, 'apps/capsule/bin/capsule.js')
const STAGE_TRACE = join(import.meta.dirname, 'stage-trace.mjs')

/** Node flags for the CLI processes a script spawns; `--cpu-prof` sets them to write CPU profiles. */
const nodeFlags: string[] = []

/**
 * Runs the CLI as `npx capsule` does: the bin file itself, so its shebang's Node flags apply, with
 * this Node first on PATH (npx puts node_modules/.bin there) and the script's flags in NODE_OPTIONS.
 */
export function capsuleCommand(args: string[]): [string, string[], { env: NodeJS.ProcessEnv }] {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  }
  if (nodeFlags.length > 0) env.NODE_OPTIONS = [env.NODE_OPTIONS ?? '', ...nodeFlags].join(' ')
  return [capsuleBin, args, { env }]
}

/**
 * `--quick`, `--cpu-prof` (profile spawned daemons into bench/results/profiles) and the script's own
 * `--name value` options.
 */
export function options<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(
  extra: T,
) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      ...extra,
    },
    allowPositionals: false,
  })
  if ((values as Record<string, unknown>)['cpu-prof'])
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${join(root, 'bench/results/profiles')}`)
  return values
}

const started = performance.now()
export function log(message: string): void {
  process.stderr.write(`  [${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`)
}

/** The one machine-readable line a benchmark script prints. */
export function emit(result: unknown): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/** Nearest-rank percentile (p in 0..100) of unsorted numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

export const median = (values: number[]) => percentile(values, 50)
export const round = (value: number, digits = 1) => Number(value.toFixed(digits))

/** Resident memory of a process (VmRSS from /proc), in MB. */
export function rssMB(pid = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) / 1024
}

export const load1 = () => round(loadavg()[0]!, 2)

/** CPU time (user + system) a process has used so far, in ms (from /proc; clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

/**
 * Writes a process has made so far (from /proc/<pid>/io): `write`-family system calls and the
 * bytes they carried, sockets and files alike; zeros when the file cannot be read.
 */
export function writeCounters(pid: number): { calls: number; bytes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8')
    return { calls: Number(/^syscw: (\d+)$/m.exec(io)?.[1]), bytes: Number(/^wchar: (\d+)$/m.exec(io)?.[1]) }
  } catch {
    return { calls: 0, bytes: 0 }
  }
}

/** A scratch folder removed when the process exits. */
export function scratch(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `capsule-bench-${label}-`))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Deterministic PRNG (mulberry32), so Capsule and the baseline get the same topology. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Who dials whom: node j dials node j-1 and two other random earlier nodes, so the graph is
 * connected, not a star, and every node has 3 or more neighbours (about 6 on average). Only
 * earlier nodes are dialled, so daemons can be started in order with `--join`.
 */
export function topology(n: number, seed = 7): number[][] {
  const next = random(seed)
  const dials: number[][] = [[]]
  for (let j = 1; j < n; j++) {
    const targets = new Set([j - 1])
    const extra = Math.min(2, j - 1)
    while (targets.size < 1 + extra) targets.add(Math.floor(next() * (j - 1)))
    dials.push([...targets])
  }
  return dials
}

/** Neighbour count of each node in a topology. */
export function degrees(dials: number[][]): number[] {
  const degree = dials.map((targets) => targets.length)
  for (const targets of dials) for (const target of targets) degree[target]! += 1
  return degree
}

/** Loopback settings every mesh node in a benchmark needs (what `--private-network` sets). */
export const LOOPBACK = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowPrivateAddresses: true,
  ipColocationWhitelist: ['127.0.0.1'],
  connectionAllow: ['/ip4/127.0.0.0/ipcidr/8'],
}

/** A logger that keeps quiet but counts warnings and errors, so a run can say it had trouble. */
export function countingLogger() {
  const counts = { warn: 0, error: 0, messages: new Map<string, number>() }
  const note = (kind: 'warn' | 'error') => (message: string) => {
    counts[kind] += 1
    counts.messages.set(message, (counts.messages.get(message) ?? 0) + 1)
  }
  return { info() {}, warn: note('warn'), error: note('error'), counts }
}

export interface Author {
  key: PrivateKey
  id: string
  sign(count: number, firstSeq?: number, text?: (seq: number) => string): VerifiedRecord[]
}

/** A new Ed25519 identity that signs posts (about 280 bytes each with the default text). */
export async function newAuthor(): Promise<Author> {
  const key = await generateKeyPair('Ed25519')
  const signer = createSigner(key)
  return {
    key,
    id: signer.author,
    sign(count, firstSeq = 1, text = (seq) => `post ${seq} ${'lorem ipsum '.repeat(12)}`) {
      const records: VerifiedRecord[] = []
      const ts = Date.now()
      for (let seq = firstSeq; seq < firstSeq + count; seq++)
        records.push(signRecord({ kind: 'post', text: text(seq) }, signer, { seq, ts }))
      return records
    },
  }
}

/** Writes records in batches of 1,000 (one transaction each). */
export function putAll(store: Store, records: VerifiedRecord[]): void {
  for (let i = 0; i < records.length; i += 1000) store.records.put(records.slice(i, i + 1000))
}

/**
 * Prepares a daemon's home the way `capsule init` does (identity in capsule.db, mode 0700), plus
 * follows and records (or a copy of a fixture's database), so a daemon starts with a known key and data.
 */
export async function prepareHome(
  dir: string,
  setup: { key?: PrivateKey; follows?: string[]; records?: VerifiedRecord[]; db?: string } = {},
): Promise<{ home: string; key: PrivateKey; peerId: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const key = setup.key ?? (await generateKeyPair('Ed25519'))
  const peerId = peerIdFromPrivateKey(key).toString()
  if (setup.db) copyFileSync(setup.db, join(dir, 'capsule.db'))
  const store = Store.open(join(dir, 'capsule.db'))
  try {
    store.identity.create({ privateKey: privateKeyToProtobuf(key), peerId })
    for (const author of setup.follows ?? []) store.follows.add(author)
    putAll(store, setup.records ?? [])
  } finally {
    store.close()
  }
  return { home: dir, key, peerId }
}

/** A real `capsule up` process on 127.0.0.1 with `--private-network`. */
export class Daemon {
  readonly lines: string[] = []
  readonly home: string
  readonly child: ChildProcess
  readonly client: SocketClient
  multiaddrs: string[] = []
  peerId = ''
  /** The site's URL (plain HTTP on 127.0.0.1), with a trailing slash. */
  siteUrl = ''
  /** ms from spawn to the "ready" log line. */
  startMs = 0

  private constructor(home: string, child: ChildProcess) {
    this.home = home
    this.child = child
    this.client = new SocketClient(join(home, 'capsule.sock'))
  }

  get pid(): number {
    return this.child.pid!
  }

  /**
   * Starts `capsule up` on `home`, dialling `join` at start. With `stageTraceDir`, the daemon
   * records its trace channels there as it exits (bench/stage-trace.mjs).
   */
  static async start(home: string, join: string[] = [], stageTraceDir?: string): Promise<Daemon> {
    const t0 = performance.now()
    // Port 0 for the site too: many daemons share 127.0.0.1.
    const args = [
      '--home',
      home,
      'up',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--private-network',
      '--http-port',
      '0',
    ]
    for (const address of join) args.push('--join', address)
    const [file, fileArgs, { env }] = capsuleCommand(args)
    if (stageTraceDir !== undefined) {
      env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(STAGE_TRACE)}`
      env.CAPSULE_STAGE_TRACE_DIR = stageTraceDir
    }
    const child = spawn(file, fileArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const daemon = new Daemon(home, child)
    running.add(daemon)
    child.stderr.on('data', (chunk) => daemon.lines.push(`stderr: ${chunk}`))
    const ready = new Promise<string>((done) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        daemon.lines.push(line)
        if (daemon.lines.length > 2000) daemon.lines.splice(0, 1000)
        if (line.includes(' ready ')) done(line)
      })
    })
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`capsule up exited ${code} before it was ready:\n${daemon.lines.join('\n')}`)
    })
    const line = await Promise.race([ready, exited])
    daemon.startMs = performance.now() - t0
    daemon.peerId = /peerId=(\S+)/.exec(line)?.[1] ?? ''
    daemon.multiaddrs = JSON.parse(/multiaddrs=(\[[^\]]*\])/.exec(line)?.[1] ?? '[]') as string[]
    daemon.siteUrl = / site=(\S+)/.exec(line)?.[1] ?? ''
    return daemon
  }

  request<T>(path: string, body?: unknown, method?: 'GET' | 'POST' | 'DELETE'): Promise<T> {
    return this.client.request<T>(path, {
      ...(body === undefined ? {} : { body }),
      ...(method ? { method } : {}),
    })
  }

  status(): Promise<{ records: number; peers: number; topics: string[] }> {
    return this.request('/v1/status')
  }

  rssMB(): number {
    return rssMB(this.pid)
  }

  async stop(): Promise<void> {
    running.delete(this)
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}

const running = new Set<Daemon>()
process.on('exit', () => {
  for (const daemon of running) daemon.child.kill('SIGKILL')
})

/** Polls something another process makes true (its store filling up); the bound is the caller's. */
export async function poll<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/**
 * Signed records of `authors` authors, `perAuthor` each, in a Store file cached under the temp
 * folder (signing runs decodeRecord too, about 6,000 a second here, so 100,000 take a while).
 * The cache is keyed by the built core, so a change of the record format makes a new one.
 * Copy `dbPath` before opening it for writing.
 */
export async function fixture(
  authors: number,
  perAuthor: number,
): Promise<{ dbPath: string; authors: { id: string; key: PrivateKey }[] }> {
  const coreDist = join(root, 'packages/core/dist')
  const hash = createHash('sha256')
  for (const file of readdirSync(coreDist)
    .filter((name) => name.endsWith('.js'))
    .sort())
    hash.update(readFileSync(join(coreDist, file)))
  const dir = join(
    tmpdir(),
    'capsule-bench-fixtures',
    `${hash.digest('hex').slice(0, 12)}-${authors}x${perAuthor}`,
  )
  const dbPath = join(dir, 'records.db')
  const keysPath = join(dir, 'keys.json')
  if (!existsSync(keysPath)) {
    log(`signing ${authors * perAuthor} records for a fixture (cached in ${dir})`)
    const building = `${dir}.${process.pid}`
    mkdirSync(building, { recursive: true })
    const store = Store.open(join(building, 'records.db'))
    const keys: string[] = []
    for (let i = 0; i < authors; i++) {
      const author = await newAuthor()
      keys.push(Buffer.from(privateKeyToProtobuf(author.key)).toString('base64'))
      for (let seq = 1; seq <= perAuthor; seq += 5000)
        putAll(store, author.sign(Math.min(5000, perAuthor - seq + 1), seq))
    }
    store.close()
    writeFileSync(join(building, 'keys.json'), JSON.stringify(keys))
    rmSync(dir, { recursive: true, force: true })
    renameSync(building, dir)
  }
  const keys = JSON.parse(readFileSync(keysPath, 'utf8')) as string[]
  return {
    dbPath,
    authors: keys.map((encoded) => {
      const key = privateKeyFromProtobuf(Buffer.from(encoded, 'base64'))
      return { id: peerIdFromPrivateKey(key).toString(), key }
    }),
  }
}

/** Forks bench/sync-source.mts and waits until it serves; see there for `kind`. */
export async function startSource(kind: 'capsule' | 'unlimited', authors: number, perAuthor: number) {
  const child = fork(
    join(import.meta.dirname, 'sync-source.mts'),
    ['--kind', kind, '--authors', String(authors), '--records', String(perAuthor)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  )
  const kill = () => child.kill('SIGKILL')
  process.on('exit', kill)
  const [ready] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`sync-source exited ${code}`)
    }),
  ])) as [{ sources: { address: string; authors: string[] }[]; fixture: string }]
  return {
    ...ready,
    pid: child.pid!,
    async stop() {
      const exited = once(child, 'exit')
      child.send({ op: 'stop' })
      await exited
      process.off('exit', kill)
    },
  }
}
