import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { type SignatureCheck, verifySignature } from './record.js'
import { sodiumAddonPath } from './sodium.js'

/** Checks Ed25519 signatures in batches; results come in the order of the checks. */
export interface SignatureVerifier {
  verify(checks: readonly SignatureCheck[]): Promise<boolean[]>
  /** Starts the threads if they are not running; resolves once they take batches. */
  start(): Promise<void>
  /** Stops the threads; later calls verify on the calling thread. */
  close(): Promise<void>
}

/** Below this many checks a batch is verified on the calling thread: posting it costs more. */
const MIN_OFFLOAD = 16

/**
 * The worker's whole program. It is source text run with `eval` (and needs only Node's own
 * modules and libsodium's addon, loaded from the path it is given) so that it works the same from
 * the ES modules, the bundle and the single executable, where no worker file exists on disk. A
 * batch arrives packed in one buffer, each check as [32-byte key][64-byte signature][u32
 * length][message]; the answer is one byte per check. It says 'ready' once libsodium is loaded.
 * The addon is called as ed25519.ts calls it, each argument as (buffer, offset, length).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const sodium = { exports: {} }
process.dlopen(sodium, workerData.sodiumAddon)
const { crypto_sign_verify_detached } = sodium.exports
parentPort.postMessage('ready')
parentPort.on('message', ({ id, count, packed }) => {
  const view = new DataView(packed)
  const valid = new Uint8Array(count)
  let at = 0
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at + 96)
    valid[i] = crypto_sign_verify_detached(packed, at + 32, 64, packed, at + 100, length, packed, at, 32) ? 1 : 0
    at += 100 + length
  }
  parentPort.postMessage({ id, valid }, [valid.buffer])
})
`

/** Packs well-formed checks (32-byte key, 64-byte signature) for the worker, in one buffer. */
function pack(checks: readonly SignatureCheck[]): ArrayBuffer {
  let size = 0
  for (const check of checks) size += 100 + check.message.length
  const packed = new Uint8Array(size)
  const view = new DataView(packed.buffer)
  let at = 0
  for (const { publicKey, signature, message } of checks) {
    packed.set(publicKey, at)
    packed.set(signature, at + 32)
    view.setUint32(at + 96, message.length)
    packed.set(message, at + 100)
    at += 100 + message.length
  }
  return packed.buffer
}

function wellFormed(check: SignatureCheck): boolean {
  return check.publicKey.length === 32 && check.signature.length === 64
}

interface Pending {
  resolve(valid: Uint8Array): void
  reject(error: Error): void
}

/** One worker thread and the batches it has not answered yet. */
class VerifierThread {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  readonly #started = Promise.withResolvers<void>()
  #nextId = 0
  #failure: Error | undefined
  /** Whether the thread has loaded libsodium and takes batches. */
  ready = false

  constructor() {
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { sodiumAddon: sodiumAddonPath() },
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    })
    // The threads never keep the node alive on their own.
    this.#worker.unref()
    this.#worker.on('message', (message: 'ready' | { id: number; valid: Uint8Array }) => {
      if (message === 'ready') {
        this.ready = true
        this.#started.resolve()
        return
      }
      this.#pending.get(message.id)?.resolve(message.valid)
      this.#pending.delete(message.id)
    })
    this.#worker.on('error', (error) => this.#fail(error))
    this.#worker.on('exit', (code) => this.#fail(new Error(`a signature thread exited (code ${code})`)))
  }

  get failed(): boolean {
    return this.#failure !== undefined
  }

  /** Resolves once the thread is ready, or has failed. */
  get started(): Promise<void> {
    return this.#started.promise
  }

  #fail(error: Error): void {
    this.#failure ??= error
    this.#started.resolve()
    for (const pending of this.#pending.values()) pending.reject(error)
    this.#pending.clear()
  }

  verify(checks: readonly SignatureCheck[]): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    const id = this.#nextId++
    const packed = pack(checks)
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ id, count: checks.length, packed }, [packed])
    })
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate()
  }
}

/**
 * A pool of worker threads that verify signatures, so a node catching up checks records on other
 * cores while its main thread reads the network and writes the store. By default one thread fewer
 * than the cores (at least one). A batch is split evenly across the ready threads and the calling
 * thread, which checks its share while they check theirs: with libsodium a catch-up's main thread
 * otherwise sat a third of the time waiting for the one thread (10,000 records: 0.92 s, with the
 * caller's share 0.79 s). The threads start with the first large batch, which is checked on the
 * calling thread meanwhile (a start takes tens of milliseconds, a batch of 256 about ten), and
 * stop after `idleMs` without a batch, since each holds a V8 heap of its own; a thread that dies
 * is replaced.
 */
export function createSignaturePool(options: { threads?: number; idleMs?: number } = {}): SignatureVerifier {
  const size = Math.max(1, options.threads ?? availableParallelism() - 1)
  const idleMs = options.idleMs ?? 1_000
  let threads: VerifierThread[] = []
  let closed = false
  let busy = 0
  let idleTimer: NodeJS.Timeout | undefined

  function stopThreads(): Promise<unknown> {
    clearTimeout(idleTimer)
    const stopping = threads
    threads = []
    return Promise.all(stopping.map((thread) => thread.terminate()))
  }

  /** Keeps `size` threads, starting any missing or failed one; clears the idle timer. */
  function startThreads(): VerifierThread[] {
    clearTimeout(idleTimer)
    threads = Array.from({ length: size }, (_, i) => {
      const thread = threads[i]
      return thread === undefined || thread.failed ? new VerifierThread() : thread
    })
    return threads
  }

  function stopWhenIdle(): void {
    clearTimeout(idleTimer)
    if (busy === 0 && !closed) idleTimer = setTimeout(stopThreads, idleMs).unref()
  }

  async function verifyWellFormed(checks: readonly SignatureCheck[]): Promise<boolean[]> {
    if (closed || checks.length < MIN_OFFLOAD) return checks.map(verifySignature)
    const ready = startThreads().filter((thread) => thread.ready)
    if (ready.length === 0) {
      stopWhenIdle()
      return checks.map(verifySignature)
    }
    busy += 1
    // The calling thread takes the first share itself while the threads check theirs.
    const share = Math.ceil(checks.length / (ready.length + 1))
    try {
      const parts = ready.map((thread, i) => {
        const part = checks.slice((i + 1) * share, (i + 2) * share)
        return part.length === 0 ? new Uint8Array() : thread.verify(part)
      })
      const own = checks.slice(0, share).map(verifySignature)
      const theirs = await Promise.all(parts)
      return [...own, ...theirs.flatMap((part) => Array.from(part, (valid) => valid === 1))]
    } finally {
      busy -= 1
      stopWhenIdle()
    }
  }

  return {
    // Checks with a key or signature of the wrong size cannot pass: answered false up front.
    async verify(checks) {
      const valid = new Array<boolean>(checks.length).fill(false)
      const candidates = checks.flatMap((check, i) => (wellFormed(check) ? [i] : []))
      const results = await verifyWellFormed(candidates.map((i) => checks[i] as SignatureCheck))
      for (const [j, i] of candidates.entries()) valid[i] = results[j] as boolean
      return valid
    },
    async start() {
      if (closed) return
      await Promise.all(startThreads().map((thread) => thread.started))
      stopWhenIdle()
    },
    async close() {
      closed = true
      await stopThreads()
    },
  }
}
