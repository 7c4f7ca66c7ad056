import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { SyncProtocolError } from './errors.js'

/**
 * Reads length-prefixed frames from a stream, each at most `maxFrameBytes`. Frames already
 * received are cut from the chunk they came in without waiting (a page of records arrives in a
 * few chunks; reading it frame by frame through an async iterator cost a catch-up's main thread
 * a promise chain and an abort listener for every record). A read ends when `signal` aborts even
 * if the stream's iterator does not: a peer that announces records, closes its side and sends
 * nothing more left the iterator pending past the stream's abort.
 */
export class FrameReader {
  readonly #chunks: AsyncIterator<Uint8Array | Uint8ArrayList>
  readonly #maxFrameBytes: number
  readonly #signal: AbortSignal | undefined
  /** What was received and not yet read: `#chunk` from `#at`. */
  #chunk: Uint8Array = new Uint8Array(0)
  #at = 0
  #ended = false
  bytes = 0

  constructor(stream: Stream, maxFrameBytes: number, signal?: AbortSignal) {
    this.#chunks = stream[Symbol.asyncIterator]()
    this.#maxFrameBytes = maxFrameBytes
    this.#signal = signal
  }

  /** The next frame, or undefined when the remote closed its side cleanly. */
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const frame = this.#take()
      if (frame !== undefined) return frame
      if (this.#ended) {
        if (this.#at < this.#chunk.length)
          throw new SyncProtocolError('bad-frame', 'the stream ended inside a frame')
        return undefined
      }
      const result = await untilAborted(this.#chunks.next(), this.#signal)
      if (result.done) this.#ended = true
      else this.#append(result.value instanceof Uint8Array ? result.value : result.value.subarray())
    }
  }

  /** A whole frame from what was received, or undefined if more must come first. */
  #take(): Uint8Array | undefined {
    const chunk = this.#chunk
    let at = this.#at
    let length = 0
    // The unsigned varint length prefix; four bytes already say more than any frame may hold.
    for (let shift = 0; ; shift += 7) {
      if (at >= chunk.length) return undefined
      if (shift > 21)
        throw new SyncProtocolError('too-large', 'a sync frame is larger than the protocol allows')
      const byte = chunk[at++] as number
      length += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) break
    }
    if (length > this.#maxFrameBytes)
      throw new SyncProtocolError('too-large', 'a sync frame is larger than the protocol allows')
    if (at + length > chunk.length) return undefined
    this.#at = at + length
    this.bytes += length
    return chunk.subarray(at, at + length)
  }

  #append(bytes: Uint8Array): void {
    const rest = this.#chunk.length - this.#at
    if (rest === 0) this.#chunk = bytes
    else {
      // A frame spans the chunks: join what is left of the old one with the new one.
      const joined = new Uint8Array(rest + bytes.length)
      joined.set(this.#chunk.subarray(this.#at))
      joined.set(bytes, rest)
      this.#chunk = joined
    }
    this.#at = 0
  }

  /** Ends the iterator; not awaited, since it queues behind a read that may never finish. */
  release(): void {
    void this.#chunks.return?.().catch(() => undefined)
  }
}

/** Settles like `work`, or rejects with the signal's reason once it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
